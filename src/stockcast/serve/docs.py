"""docs/serving.md from the app's OpenAPI schema, so the service's reference can never drift from the code.

`stockcast serving-doc` rewrites it; a test fails when the committed page differs from `render()`.
The page replaces FastAPI's Swagger and ReDoc pages, which load their scripts from a CDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DOC_PATH = Path("docs/serving.md")

_INTRO = """\
# Serving

Generated from the app's OpenAPI schema (`src/stockcast/serve/`) by `stockcast serving-doc`; do not edit.

```
stockcast serve [MODEL_DIR] [--host 127.0.0.1] [--port 8000] [--signals data/signals/latest.parquet] [--threshold P]
stockcast predict BARS_FILE [--model models/lstm] [--out signals.parquet|.csv] [--threshold P]
```

`stockcast serve` loads the model once (MODEL_DIR, default `models/lstm`: `models/<model>` or its bundle
`models/<model>/model`; its checksums are verified) and the predict stage's table, then serves on
127.0.0.1 only unless `--host` says otherwise (a container needs `--host 0.0.0.0`: see the Dockerfile).
The call's threshold is `--threshold`, else `evaluate.threshold` of `./params.yaml`, else 0.5. The server
starts without a signals table (GET /v1/signals then answers 503 until the predict stage has run and the
server is restarted); a table made by another model is refused at start. `stockcast predict` does what
POST /v1/predict does on a parquet or CSV file (the ingest readers: Yahoo-style columns and their
spellings work), prints the table and lists, rather than refuses, the tickers it cannot score.

Requests are scored concurrently (POST /v1/predict in FastAPI's threadpool), the model's forward one at
a time behind a lock, with torch on `--threads` threads (default 1: on a few busy cores more threads
made the forward's p99 seconds, not milliseconds). Latency end to end over HTTP (one ticker, features
computed, the seed LSTM's shape) is measured by `benchmarks/serve_latency.py`, which also times each step.
"""


def render(openapi: dict[str, Any]) -> str:
    """The whole page as markdown: the intro, the app's description, each endpoint, each schema."""
    lines = [_INTRO, "## The API", "", openapi["info"]["description"], "", "## Endpoints"]
    for path, methods in openapi["paths"].items():
        for method, op in methods.items():
            lines += ["", f"### `{method.upper()} {path}`: {op['summary']}", "", op["description"], ""]
            for param in op.get("parameters", []):
                lines.append(f"- {param['in']} parameter `{param['name']}`: {_type(param['schema'])}")
            if "requestBody" in op:
                lines.append(f"- body: {_type(op['requestBody']['content']['application/json']['schema'])}")
            for status, answer in op["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                lines.append(f"- {status}: {_type(schema) if schema else 'no body'}: {answer['description']}")
    lines += ["", "## Schemas"]
    for name, schema in openapi["components"]["schemas"].items():
        lines += ["", f"### {name}", "", " ".join(schema["description"].split()), "",
                  "| field | type | required | description |", "|---|---|---|---|"]
        required = set(schema.get("required", []))
        for field, spec in schema["properties"].items():
            text = " ".join(spec.get("description", "").split()).replace("|", "\\|")
            lines.append(f"| `{field}` | {_type(spec)} | {'yes' if field in required else 'no'} | {text} |")
    return "\n".join(lines) + "\n"


def _type(spec: dict[str, Any]) -> str:
    """A JSON schema as a short type: `number` 0..1, `string` (date), list of Bar (1..200000), ... or null."""
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in spec:
        return " or ".join(_type(s) for s in spec["anyOf"])
    kind = spec.get("type", "any")
    if kind == "array":
        bounds = f" ({spec.get('minItems', 0)}..{spec['maxItems']})" if "maxItems" in spec else ""
        return f"list of {_type(spec['items'])}{bounds}"
    text = f"`{kind}`"
    if "enum" in spec:
        text += " (" + " \\| ".join(f"`{v}`" for v in spec["enum"]) + ")"
    elif "const" in spec:
        text += f" (`{spec['const']}`)"
    elif "format" in spec:
        text += f" ({spec['format']})"
    if "minimum" in spec or "maximum" in spec:
        text += f" {_number(spec.get('minimum'))}..{_number(spec.get('maximum'))}"
    return text


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def write(openapi: dict[str, Any], path: Path = DOC_PATH) -> Path:
    """Write the page to `path` (creating its folder) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(openapi))
    return path

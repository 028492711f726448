"""docs/features.md from the registry, so the list of features can never drift from the code.

`python -m stockcast.features.docs` (or `stockcast features-doc`) rewrites it; a test fails when the
committed page differs from `render()`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from stockcast.features.registry import FAMILIES, SETS, Feature, all_features

DOC_PATH = Path("docs/features.md")

_INTRO = """\
# Features

Generated from the registry (`src/stockcast/features/`) by `stockcast features-doc`; do not edit.

`params.yaml` picks a set (`features.set`) and optionally some of its families (`features.families`).
Every value at date t uses that ticker's rows up to and including t only. `lookback` is the number
of earlier sessions a value needs: the first `lookback` rows of each ticker are null (warm-up,
never filled). Recursive indicators (EMA, RSI, ATR, ADX, MACD, SAR, OBV) also keep a fading
memory of all earlier rows, as TA-Lib defines them. `unitless` features (ratios to close, log
returns, z-scores, bounded oscillators) mean the same for a $5 and a $500 stock and are the ones
meant for models; the others are raw TA-Lib values in price or volume units. Where an indicator
exists in TA-Lib, TA-Lib computes it and is its definition.
"""


def render() -> str:
    """The whole page as markdown."""
    features = all_features()
    lines = [_INTRO, "## Sets", "", "| set | features | families | max lookback | what |", "|---|---|---|---|---|"]
    for name, what in SETS.items():
        members = [f for f in features if name in f.sets]
        families = ", ".join(fam for fam in FAMILIES if any(f.family == fam for f in members))
        lines.append(f"| `{name}` | {len(members)} | {families} | {max(f.lookback for f in members)} | {what} |")
    for family, what in FAMILIES.items():
        members = [f for f in features if f.family == family]
        lines += ["", f"## {family} ({len(members)})", "", what, "",
                  "| name | sets | lookback | unitless | definition |", "|---|---|---|---|---|"]
        lines += [_row(f) for f in members]
    return "\n".join(lines) + "\n"


def _row(f: Feature) -> str:
    definition = f.definition.replace("|", "\\|")
    return f"| `{f.name}` | {', '.join(f.sets)} | {f.lookback} | {'yes' if f.unitless else 'no'} | {definition} |"


def write(path: Path = DOC_PATH) -> Path:
    """Write the page to `path` (creating its folder) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    return path


if __name__ == "__main__":
    print(f"wrote {write(Path(sys.argv[1]) if len(sys.argv) > 1 else DOC_PATH)}")

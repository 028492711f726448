"""The `stockcast` command: user tasks that are not pipeline stages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from stockcast.errors import StockcastError
from stockcast.params import load_all

app = typer.Typer(help="stockcast: train and honestly test stock-direction models on daily OHLCV.",
                  no_args_is_help=True, add_completion=False)
console = Console()


def _fail(err: StockcastError) -> None:
    console.print(f"[red]error:[/red] {err}", highlight=False)
    raise typer.Exit(2)


@app.command("check-params")
def check_params(path: Path = typer.Argument(Path("params.yaml"), help="params file to validate")) -> None:
    """Validate every section of a params file and print the values in force."""
    try:
        sections = load_all(path)
    except StockcastError as err:
        _fail(err)
    table = Table("section", "key", "value", title=f"{path}: valid")
    for name, section in sections.items():
        for key, value in section.model_dump().items():
            table.add_row(name, key, repr(value))
    console.print(table)


@app.command()
def tensorboard(logdir: Path = typer.Option(Path("logs"), help="folder of tensorboard event files"),
                port: int = typer.Option(6006, help="port on 127.0.0.1")) -> None:
    """Serve the training logs with tensorboard on 127.0.0.1 only."""
    exe = shutil.which("tensorboard")
    if exe is None:
        _fail(StockcastError("tensorboard is not installed in this environment (pip install tensorboard)"))
    if not logdir.exists():
        _fail(StockcastError(f"{logdir}: no logs yet; run `dvc repro` first"))
    console.print(f"tensorboard on http://127.0.0.1:{port}/ (Ctrl-C stops it)")
    subprocess.run([exe, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port)], check=False)

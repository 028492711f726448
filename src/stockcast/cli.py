"""The `stockcast` command: user tasks that are not pipeline stages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stockcast.errors import StockcastError

app = typer.Typer(help="stockcast: train and honestly test stock-direction models on daily OHLCV.",
                  no_args_is_help=True, add_completion=False)
console = Console()


def _fail(err: StockcastError) -> None:
    console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)  # one line, even piped
    raise typer.Exit(2)


@app.command("check-params")
def check_params(path: Path = typer.Argument(Path("params.yaml"), help="params file to validate")) -> None:
    """Validate every section of a params file (as the pipeline's first stage does) and print the values."""
    from stockcast.params_check import check_file  # the feature registry and calendars load only here

    try:
        sections = check_file(path)
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
    if not logdir.exists():
        _fail(StockcastError(f"{logdir}: no logs yet; run `dvc repro` first"))
    console.print(f"tensorboard on http://127.0.0.1:{port}/ (Ctrl-C stops it)")
    subprocess.run([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1",
                    "--port", str(port)], check=False)


@app.command("features-doc")
def features_doc(path: Path = typer.Argument(Path("docs/features.md"), help="markdown file to (re)write")) -> None:
    """Write the list of registered features (name, family, sets, lookback, definition) as markdown."""
    from stockcast.features.docs import write  # TA-Lib and the registry load only for this command

    console.print(f"wrote {write(path)}")


@app.command()
def audit(path: str = typer.Argument(..., help="a parquet/CSV file, a folder of them, or a glob"),
          calendar: str = typer.Option("XNYS", help="exchange_calendars name for session checks; 'none' skips them"),
          params: Path = typer.Option(None, help="take the rules from this params file's quality section"),
          universe: Path = typer.Option(None, help="a universe file: its exchange column picks tickers' calendars"),
          json_out: Path = typer.Option(None, "--json", help="write the report (rows_in, by_rule, ...) here"),
          quarantine: Path = typer.Option(None, help="write the quarantined rows (with rule, detail) to this parquet")
          ) -> None:
    """Run the quality stage's checks on any file or folder, outside the pipeline, and print what they find."""
    from stockcast.data import exchanges
    from stockcast.data.directory import load_directory  # polars and the calendar load only for this command
    from stockcast.data.quality import check
    from stockcast.data.universe import read_universe_file
    from stockcast.params import QualityParams, load_section
    from stockcast.schemas import Quarantine
    from stockcast.tables import write_json, write_table

    try:
        quality = load_section("quality", params) if params else QualityParams()
        quality = quality.model_copy(update={"calendar": None if calendar.lower() == "none" else calendar})
        bars, read = load_directory(path)
        exchange_of = read["exchanges"]  # a data column's, and the universe file's, as the quality stage does
        if universe:
            exchange_of = exchanges.merge(exchange_of, exchanges.of_universe(read_universe_file(universe)), str(universe))
        if calendar.lower() == "none":
            exchange_of = {}  # no session rules for any ticker
        result = check(bars, quality, origin=path, exchanges=exchange_of)
    except StockcastError as err:
        _fail(err)
    report = result.report
    _print_skipped(read)
    table = Table("rule", "action", "rows quarantined", "rows breaking it", "warnings", title=f"audit of {path}")
    for rule, rows in report["by_rule"].items():
        settings = getattr(quality.rules, rule, None)
        action = "off" if settings and not settings.enabled else settings.action if settings else quality.splits
        table.add_row(rule, action, str(rows), str(report["broken_by_rule"][rule]), str(report["warnings"][rule]))
    console.print(table)
    console.print(f"rows: {report['rows_in']} in, {report['rows_clean']} clean, {report['rows_quarantined']} "
                  f"quarantined; tickers: {report['tickers_in']} in, {report['tickers_kept']} kept, dropped "
                  f"{report['dropped_by_rule'] or 'none'}; missing sessions: {report['missing_sessions']['total']}; "
                  f"splits found: {report['splits']['found']}", highlight=False, soft_wrap=True)
    by_ticker = result.quarantine.group_by("ticker", "rule", maintain_order=True).len()
    for ticker, rule, rows in by_ticker.head(20).iter_rows():
        console.print(f"  quarantined: {ticker} {rule} {rows} rows", markup=False, highlight=False, soft_wrap=True)
    for row in result.findings.head(20).iter_rows(named=True):
        console.print(f"  {row['ticker']} {row['date']} {row['rule']}: {row['detail']}", markup=False,
                      highlight=False, soft_wrap=True)
    if result.findings.height > 20:
        console.print(f"  ... {result.findings.height - 20} more findings", highlight=False)
    if json_out:
        write_json(report, json_out)
        console.print(f"report: {json_out}")
    if quarantine:
        write_table(result.quarantine, quarantine, Quarantine)
        console.print(f"quarantined rows: {quarantine}")


def _print_skipped(read: dict) -> None:
    """What reading skipped: hidden and editor files, blank and all-empty rows (never silently)."""
    for name in read["skipped_files"]:
        console.print(f"  skipped hidden or editor file: {name}", markup=False, highlight=False, soft_wrap=True)
    for name, rows in read["blank_rows"].items():
        console.print(f"  skipped {rows} blank or all-empty rows in {name}", markup=False, highlight=False,
                      soft_wrap=True)


@app.command()
def synth(mode: str = typer.Option(..., help="realistic | null | planted"),
          tickers: int = typer.Option(50, help="number of tickers"),
          days: int = typer.Option(2520, help="XNYS sessions from 2000-01-03"),
          seed: int = typer.Option(0, help="random seed: the same seed gives the same market"),
          out: Path = typer.Option(..., help="parquet file to write; its truth goes to FILE.meta.json"),
          bayes_accuracy: float = typer.Option(0.55, help="planted: the best achievable direction accuracy")) -> None:
    """Write a seeded synthetic market (RawOHLCV) and its meta (bayes_accuracy, splits) beside it."""
    from stockcast.data.sources import write_meta
    from stockcast.data.synthetic import generate
    from stockcast.schemas import RawOHLCV
    from stockcast.tables import write_table

    try:
        if out.suffix != ".parquet":
            raise StockcastError(f"{out}: synth writes parquet; name the file *.parquet")
        bars, meta = generate(mode, tickers, days, seed, bayes_accuracy=bayes_accuracy)  # type: ignore[arg-type]
        write_table(bars, out, RawOHLCV)
    except StockcastError as err:
        _fail(err)
    console.print(f"{out}: {bars.height} rows, {tickers} tickers, {meta['start']}..{meta['end']} ({mode}); "
                  f"meta: {write_meta(meta, out)}", highlight=False)
@app.command()
def compare(names: list[str] = typer.Argument(None, metavar="[EXPERIMENTS]...",
                                              help="experiment names or commits; all of `dvc exp show` when none"),
            out: Path = typer.Option(Path("reports/compare.html"), help="HTML page to write"),
            by: str = typer.Option("best_val_accuracy", help="the val score that selects: best_val_accuracy | "
                                                              "best_val_loss (dvclive/metrics.json)")) -> None:
    """One offline page of experiments side by side (`dvc exp show --json`), the val-selected one marked."""
    import json

    import polars as pl

    from stockcast import compare as page  # matplotlib loads only for this command

    try:
        shown = _git_or_dvc(["dvc", "exp", "show", "--json"])
        found = page.pick(page.experiments(json.loads(shown)), names or [])
        curves, missing = {}, []
        for experiment in found:
            try:
                equity = _git_or_dvc(["git", "show", f"{experiment.rev}:plots/equity.csv"])
                curves[experiment.name] = pl.read_csv(equity.encode(), try_parse_dates=True)
            except StockcastError:
                missing.append(experiment.name)
        html = page.render(found, curves, by, missing)
    except StockcastError as err:
        _fail(err)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html)
    chosen = page.selected(found, by)
    console.print(f"{out}: {len(found)} experiments ({', '.join(e.name for e in found)}); selected by "
                  f"validation ({by}): {chosen.name}", markup=False, highlight=False, soft_wrap=True)


def _git_or_dvc(cmd: list[str]) -> str:
    """stdout of a git or dvc command run here; its failure is one line naming it."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise StockcastError(f"{' '.join(cmd)}: {last}")
    return done.stdout


def _threshold(option: float | None) -> float:
    """The call's threshold: --threshold, else evaluate.threshold of ./params.yaml (the rule the test scores
    were judged by, as the predict stage uses it), else that param's default."""
    from stockcast.params import load_section, parse_section

    if option is not None:
        return parse_section("evaluate", {"threshold": option}, "--threshold").threshold
    return (load_section("evaluate") if Path("params.yaml").is_file() else parse_section("evaluate", {})).threshold


MODEL_HELP = "models/<model> (or its bundle models/<model>/model), as the train stage writes it"
THRESHOLD_HELP = "P(up) above which the call is up; default: evaluate.threshold of ./params.yaml, else 0.5"


@app.command()
def serve(model_dir: Path = typer.Argument(Path("models/lstm"), help=MODEL_HELP),
          host: str = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0 only inside a container)"),
          port: int = typer.Option(8000, help="port"),
          signals: Path = typer.Option(Path("data/signals/latest.parquet"), help="the predict stage's table"),
          threshold: float = typer.Option(None, help=THRESHOLD_HELP),
          threads: int = typer.Option(1, min=1, help="torch threads per request (requests are scored one at a time)")
          ) -> None:
    """Serve tomorrow's signals over HTTP (FastAPI): the predict stage's table, and scoring of posted bars."""
    import polars as pl  # torch, polars and FastAPI load only for this command
    import torch
    import uvicorn

    from stockcast.predict import Scorer
    from stockcast.serve.app import create_app

    try:
        scorer = Scorer.load(model_dir, _threshold(threshold))
        table = pl.read_parquet(signals) if signals.is_file() else None
        service = create_app(scorer, table, str(signals))
    except StockcastError as err:
        _fail(err)
    torch.set_num_threads(threads)
    as_of = f"signals of {table.height} tickers as of {table['as_of'].max()}" if table is not None else \
        f"no signals table ({signals}: run the predict stage; GET /v1/signals answers 503)"
    console.print(f"serving {scorer.name} {scorer.hash[:12]} on http://{host}:{port}/ ({as_of}; API in "
                  "/openapi.json and docs/serving.md; Ctrl-C stops it)", markup=False, highlight=False, soft_wrap=True)
    uvicorn.run(service, host=host, port=port, log_level="warning")


@app.command()
def predict(bars: str = typer.Argument(..., help="a parquet/CSV bars file, a folder of them, or a glob"),
            model: Path = typer.Option(Path("models/lstm"), help=MODEL_HELP),
            out: Path = typer.Option(None, help="write the signals here (.parquet or .csv)"),
            threshold: float = typer.Option(None, help=THRESHOLD_HELP)) -> None:
    """Tomorrow's signals for the bars of a file, scored as POST /v1/predict scores them; every ticker is
    listed, scored or with the reason it cannot be."""
    from stockcast.data.directory import load_directory  # polars and torch load only for this command
    from stockcast.predict import Scorer
    from stockcast.schemas import Signals, validate
    from stockcast.tables import write_table

    try:
        if out is not None and out.suffix not in (".parquet", ".csv"):
            raise StockcastError(f"--out {out}: name a .parquet or .csv file")
        scorer = Scorer.load(model, _threshold(threshold))
        frame, read = load_directory(bars)
        table, _ = scorer.score_bars(frame)
    except StockcastError as err:
        _fail(err)
    _print_skipped(read)
    listing = Table("ticker", "as_of", "stale", "prob", "call", "rank", "reason",
                  title=f"{bars}: {scorer.name} {scorer.hash[:12]}, threshold {scorer.threshold}")
    for row in table.iter_rows(named=True):
        prob = "" if row["prob"] is None else f"{row['prob']:.4f}"
        listing.add_row(*(escape(str(v)) if v is not None else "" for v in (
            row["ticker"], row["as_of"], row["stale"], prob, row["call"], row["rank"], row["reason"])))
    console.print(listing)
    if out is not None:
        if out.suffix == ".csv":
            out.parent.mkdir(parents=True, exist_ok=True)
            validate(table, Signals, str(out)).write_csv(out)
        else:
            write_table(table, out, Signals)
        console.print(f"signals: {out}", markup=False, highlight=False, soft_wrap=True)


@app.command("serving-doc")
def serving_doc(path: Path = typer.Argument(Path("docs/serving.md"), help="markdown file to (re)write")) -> None:
    """Write the HTTP service's reference (endpoints, schemas, errors) from its OpenAPI schema, as markdown."""
    from stockcast.serve.app import api  # FastAPI loads only for this command
    from stockcast.serve.docs import write

    console.print(f"wrote {write(api().openapi(), path)}")


@app.command()
def monitor(metrics: Path = typer.Option(Path("metrics/monitor.json"), help="the monitor stage's metrics file"),
            check: bool = typer.Option(False, "--check", help="exit 1 when the retrain rule fires (cron, CI)"),
            top: int = typer.Option(10, help="drifted features listed, largest normed Wasserstein first")) -> None:
    """The monitor stage's verdict: drift of features and predictions, live accuracy, and whether to retrain.

    Run `dvc repro monitor` (or `make daily`) first; this reads what it wrote. With --check the exit
    status is 1 when the retrain rule fires, with the reason on one line, else 0."""
    from stockcast.tables import read_json

    try:
        report = read_json(metrics)
        drift, live, test, retrain = (report[k] for k in ("drift", "live", "test_segment", "retrain"))
    except StockcastError as err:
        _fail(err)
    except KeyError as err:
        _fail(StockcastError(f"{metrics}: missing key {err}; rerun the monitor stage (`dvc repro monitor`)"))
    console.print(f"drift: {drift['features_drifted']} of {len(report['features'])} features ({drift['method']}), "
                  f"current {drift['current_from']}..{drift['current_to']}; prediction drifted: "
                  f"{report['prediction']['drifted']}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"live accuracy {live['accuracy']:.4f} [{live['accuracy_low']:.4f}, {live['accuracy_high']:.4f}] "
                  f"on {live['n']} predictions; test {test['accuracy']:.4f} [{test['accuracy_low']:.4f}, "
                  f"{test['accuracy_high']:.4f}]", markup=False, highlight=False, soft_wrap=True)
    worst = sorted(((name, row) for name, row in report["features"].items() if row["drifted"]),
                   key=lambda item: -(item[1]["wasserstein"] or 0))[:top]
    if worst:
        table = Table("feature", "normed wasserstein", "psi", "ks p", title="drifted features")
        for name, row in worst:
            table.add_row(name, f"{row['wasserstein']:.3f}", f"{row['psi']:.3f}", f"{row['ks_p']:.2g}")
        console.print(table)
    verdict = f"retrain: {retrain['reasons']}" if retrain["fires"] else "keep the model: no retrain rule fires"
    console.print(verdict, markup=False, highlight=False, soft_wrap=True)
    if check and retrain["fires"]:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()

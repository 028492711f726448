"""Stage ingest: bring daily bars from the configured source into data/raw/ohlcv.parquet (+ .meta.json)."""

from pathlib import Path

from stockcast.data.sources import load, write_meta
from stockcast.errors import exit_on_error
from stockcast.params import load_section
from stockcast.schemas import RawOHLCV
from stockcast.tables import write_table

OUT = "data/raw/ohlcv.parquet"


def main() -> None:
    params = load_section("ingest")
    Path(params.download.cache_dir).mkdir(parents=True, exist_ok=True)  # a DVC output, even when unused
    bars, meta = load(params)
    write_table(bars, OUT, RawOHLCV)
    write_meta(meta, OUT)
    skipped = f"; skipped {len(meta['skipped_files'])} hidden or editor files" if meta.get("skipped_files") else ""
    blank = f"; skipped {sum(meta['blank_rows'].values())} blank rows" if meta.get("blank_rows") else ""
    print(f"ingest: {bars.height} rows, {meta['tickers']} tickers from {params.source} -> {OUT}{skipped}{blank}")


if __name__ == "__main__":
    exit_on_error(main)

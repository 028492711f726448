"""Stage ingest: bring daily bars from the configured source into data/raw/ohlcv.parquet."""

from stockcast.data.sources import load_sample
from stockcast.errors import exit_on_error
from stockcast.params import load_section
from stockcast.schemas import RawOHLCV
from stockcast.tables import write_table

OUT = "data/raw/ohlcv.parquet"


def main() -> None:
    params = load_section("ingest")
    bars = load_sample(params.sample_path)
    write_table(bars, OUT, RawOHLCV)
    print(f"ingest: {bars.height} rows, {bars['ticker'].n_unique()} tickers from {params.source} -> {OUT}")


if __name__ == "__main__":
    exit_on_error(main)

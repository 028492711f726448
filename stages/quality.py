"""Stage quality: split raw bars into clean and quarantined rows, adjust for corporate actions."""

from stockcast.data.adjust import adjust_with_adj_close
from stockcast.data.quality import check
from stockcast.errors import exit_on_error
from stockcast.params import load_section
from stockcast.schemas import OHLCV, Quarantine
from stockcast.tables import read_table, write_json, write_table


def main() -> None:
    params = load_section("quality")
    result = check(read_table("data/raw/ohlcv.parquet"), params.min_history_days)
    clean = adjust_with_adj_close(result.clean) if params.adjust_with_adj_close else result.clean
    write_table(clean, "data/clean/ohlcv.parquet", OHLCV)
    write_table(result.quarantine, "data/quarantine/ohlcv.parquet", Quarantine)
    write_json(result.report, "metrics/quality.json")
    r = result.report
    print(f"quality: {r['rows_in']} in, {r['rows_clean']} clean, {r['rows_quarantined']} quarantined {r['by_rule']}")


if __name__ == "__main__":
    exit_on_error(main)

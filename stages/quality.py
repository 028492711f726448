"""Stage quality: split raw bars into clean (adjusted) and quarantined rows, record findings and metrics."""

from stockcast.data.quality import check, headline
from stockcast.errors import exit_on_error
from stockcast.params import load_section
from stockcast.schemas import OHLCV, Findings, Quarantine
from stockcast.tables import read_table, write_json, write_table

RAW = "data/raw/ohlcv.parquet"


def main() -> None:
    params = load_section("quality")
    result = check(read_table(RAW), params, origin=RAW)
    write_table(result.clean, "data/clean/ohlcv.parquet", OHLCV)
    write_table(result.quarantine, "data/quarantine/ohlcv.parquet", Quarantine)
    write_table(result.findings, "data/quarantine/findings.parquet", Findings)
    write_json(result.report, "data/quarantine/report.json")
    write_json(headline(result.report), "metrics/quality.json")
    r = result.report
    quarantined = {k: v for k, v in r["by_rule"].items() if v}
    warned = {k: v for k, v in r["warnings"].items() if v}
    print(f"quality: {r['rows_in']} in, {r['rows_clean']} clean, {r['rows_quarantined']} quarantined {quarantined}, "
          f"warnings {warned}")


if __name__ == "__main__":
    exit_on_error(main)

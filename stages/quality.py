"""Stage quality: split raw bars into clean (adjusted) and quarantined rows, record findings and metrics.

Each ticker is judged by its exchange's calendar: the one the data named (ingest's meta) or the universe file's
`exchange` column; quality.calendar judges the rest.
"""

from stockcast.data import exchanges
from stockcast.data.quality import check, headline
from stockcast.data.universe import read_universe_file
from stockcast.errors import exit_on_error
from stockcast.params import load_section
from stockcast.schemas import OHLCV, Findings, Quarantine
from stockcast.tables import read_json, read_table, write_json, write_table

RAW = "data/raw/ohlcv.parquet"
META = "data/raw/ohlcv.meta.json"


def main() -> None:
    params = load_section("quality")
    universe = load_section("universe").path
    meta = read_json(META)
    exchange_of = exchanges.merge(meta.get("exchanges", {}), exchanges.of_universe(read_universe_file(universe)),
                                  universe)
    result = check(read_table(RAW), params, origin=RAW, exchanges=exchange_of)
    result.report["provenance"] = {k: meta[k] for k in ("source", "served_by", "not_served") if k in meta}
    write_table(result.clean, "data/clean/ohlcv.parquet", OHLCV)
    write_table(result.quarantine, "data/quarantine/ohlcv.parquet", Quarantine)
    write_table(result.findings, "data/quarantine/findings.parquet", Findings)
    write_json(result.report, "data/quarantine/report.json")
    write_json(headline(result.report), "metrics/quality.json")
    r = result.report
    quarantined = {k: v for k, v in r["by_rule"].items() if v}
    broken = {k: v for k, v in r["broken_by_rule"].items() if v}
    warned = {k: v for k, v in r["warnings"].items() if v}
    print(f"quality: {r['rows_in']} in, {r['rows_clean']} clean, {r['rows_quarantined']} quarantined {quarantined}, "
          f"rules broken {broken}, warnings {warned}, {r['ohlc_rounded']} OHLC roundings corrected; "
          f"calendars {r['calendars']}")


if __name__ == "__main__":
    exit_on_error(main)

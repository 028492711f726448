"""Stage features: compute the configured feature set (and families) over the clean bars."""

from stockcast.errors import exit_on_error
from stockcast.features.registry import compute, feature_set
from stockcast.params import load_section
from stockcast.schemas import features_schema
from stockcast.tables import read_table, write_json, write_table


def main() -> None:
    params = load_section("features")
    features = feature_set(params.set, params.families)
    table = compute(read_table("data/clean/ohlcv.parquet"), features)
    names = [f.name for f in features]
    write_table(table, "data/features/features.parquet", features_schema(names))
    write_json({"set": params.set, "families": params.families, "max_lookback": max(f.lookback for f in features),
                "features": [f.describe() for f in features]},
               "data/features/manifest.json")
    print(f"features: {len(names)} features x {table.height} rows")


if __name__ == "__main__":
    exit_on_error(main)

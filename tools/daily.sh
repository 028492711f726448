#!/usr/bin/env bash
# The daily loop (docs/monitoring.md): take in new bars, rerun every stage they touch except train, write
# tomorrow's signals and the monitor's verdict. Exits 1, saying why in one line, when the retrain rule
# fires; then `dvc repro` (which reruns train) retrains. `make daily` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
stages=$(python - <<'PY'
import yaml
print(" ".join(name for name in yaml.safe_load(open("dvc.yaml"))["stages"] if name not in ("train", "ingest")))
PY
)
dvc repro --single-item --force ingest   # the download source fetches new sessions; a file source is reread
dvc repro --single-item $stages         # in dvc.yaml's order; train keeps its model (dvc status lists it)
stockcast monitor --check

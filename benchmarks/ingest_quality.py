"""Ingest + quality on a synthetic universe, run as the pipeline runs them: the two stage scripts.

Writes a seeded synthetic universe (default: realistic, 1,695 tickers x 6,000 sessions) with the
library, then times `stages/ingest.py` (source: directory, reading that file) followed by
`stages/quality.py` in a scratch folder, each in its own process (imports and start-up included).
Prints JSON: seconds (median of --repeat runs, and each stage's median), CPU seconds, rows, peak RSS
of the largest stage process, and the load average (wall time on a shared machine is only as good as
its load is low). Goal (issue 3): under 10 s on 2 cores.

    python benchmarks/ingest_quality.py --tickers 1695 --days 6000 --mode realistic --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from stockcast.data.synthetic import generate

ROOT = Path(__file__).resolve().parents[1]


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_stage(name: str, cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one stage script, run in `cwd` like `dvc repro` would.

    CPU seconds (user + system, all threads) do not grow when other jobs share the machine; wall does.
    """
    start, cpu = time.perf_counter(), cpu_of_children()
    subprocess.run([sys.executable, str(ROOT / "stages" / f"{name}.py")], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, cpu_of_children() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=1695)
    parser.add_argument("--days", type=int, default=6000)
    parser.add_argument("--mode", default="realistic", choices=["realistic", "null", "planted"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", help="scratch folder's parent (default: the system temp dir; /dev/shm "
                                          "takes the disk out of the measurement)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        universe = work / "universe.parquet"
        start = time.perf_counter()
        bars, _ = generate(args.mode, args.tickers, args.days, seed=0)
        bars.write_parquet(universe, compression="zstd")
        synth_seconds = time.perf_counter() - start
        rows = bars.height
        del bars
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["ingest"].update(source="directory", path=str(universe))
        (work / "params.yaml").write_text(yaml.safe_dump(params))
        runs = [(run_stage("ingest", work), run_stage("quality", work)) for _ in range(args.repeat)]
        metrics = json.loads((work / "metrics" / "quality.json").read_text())
    print(json.dumps({
        "tickers": args.tickers, "days": args.days, "mode": args.mode, "rows": rows,
        "rows_clean": metrics["rows_clean"], "rows_quarantined": metrics["rows_quarantined"],
        "seconds": round(statistics.median(i[0] + q[0] for i, q in runs), 2),
        "ingest_seconds": round(statistics.median(i[0] for i, _ in runs), 2),
        "quality_seconds": round(statistics.median(q[0] for _, q in runs), 2),
        "cpu_seconds": round(statistics.median(i[1] + q[1] for i, q in runs), 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "runs": args.repeat,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "synth_seconds": round(synth_seconds, 2),
        "cpus": len(os.sched_getaffinity(0)),
    }, indent=2))


if __name__ == "__main__":
    main()

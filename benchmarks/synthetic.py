"""Generating a synthetic universe: seconds and peak RSS per mode (goal, issue 3: 1,695 x 6,000 in < 30 s).

Each mode runs in its own process so its peak RSS is its own. Prints JSON.

    python benchmarks/synthetic.py --tickers 1695 --days 6000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from stockcast.data.synthetic import MODES, generate


def measure(mode: str, tickers: int, days: int, repeat: int) -> dict:
    generate(mode, 2, 10, seed=0)  # the calendar, once: not part of generating a market
    seconds = []
    for seed in range(repeat):
        start = time.perf_counter()
        bars, _ = generate(mode, tickers, days, seed=seed)  # type: ignore[arg-type]
        seconds.append(time.perf_counter() - start)
    return {"mode": mode, "rows": bars.height, "seconds": round(statistics.median(seconds), 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=1695)
    parser.add_argument("--days", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", choices=MODES, help="measure one mode here (default: each in a child process)")
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode, args.tickers, args.days, args.repeat)))
        return
    results = [json.loads(subprocess.run(
        [sys.executable, __file__, "--mode", mode, "--tickers", str(args.tickers), "--days", str(args.days),
         "--repeat", str(args.repeat)], check=True, capture_output=True, text=True).stdout) for mode in MODES]
    print(json.dumps({"tickers": args.tickers, "days": args.days, "modes": results}, indent=2))


if __name__ == "__main__":
    main()

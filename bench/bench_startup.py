"""Benchmark: how long ``ferry`` takes to start, beside the interpreter's own start as the floor.

Each command runs ``--repeat`` times (default ten) in a fresh interpreter; the median wall time of each
is shown, with ``python -c pass`` measured in the same loop so the machine's load shows in the floor too.
The runs of the commands are interleaved, so a burst of load falls on all of them alike.

    .venv/bin/python bench/bench_startup.py
    .venv/bin/python bench/bench_startup.py --repeat 20
    .venv/bin/python bench/bench_startup.py --against ../main/src   # another tree's ferry beside this one
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS: dict[str, list[str]] = {
    "python -c pass (floor)": ["-c", "pass"],
    "ferry --help": ["-m", "ferry", "--help"],
    "ferry run --help": ["-m", "ferry", "run", "--help"],
    "import ferry.cli.main": ["-c", "import ferry.cli.main"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=10, help="runs of each command; medians are shown")
    ap.add_argument("--against", type=Path, help="another tree's src folder, timed in the same loop")
    args = ap.parse_args()
    trees = {"": Path(__file__).resolve().parent.parent / "src"}
    if args.against:
        trees[" [against]"] = args.against.resolve()
    times: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for tag, src in trees.items():
            env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "80"}
            for name, argv in COMMANDS.items():
                if tag and name.startswith("python -c"):
                    continue
                t0 = time.perf_counter()
                subprocess.run([sys.executable, *argv], env=env, check=True, stdout=subprocess.DEVNULL)
                times.setdefault(name + tag, []).append(time.perf_counter() - t0)
    if args.against:
        print(f"[against]: {args.against}")
    load = os.getloadavg()
    print(f"median of {args.repeat} runs each; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    floor = statistics.median(times["python -c pass (floor)"])
    print(f"{'command':<34} {'median s':>9} {'min s':>7} {'max s':>7} {'over floor s':>13}")
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"{name:<34} {median:>9.3f} {min(runs):>7.3f} {max(runs):>7.3f} {median - floor:>13.3f}")


if __name__ == "__main__":
    main()

"""`make bench`: runs every bench/bench_*.py in turn (or those named: `run.py close rating`). Each prints
its figure and the ratio to the baseline it names. Benchmarks never run inside the test suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    selected = sys.argv[1:]
    scripts = sorted(
        p for p in here.glob("bench_*.py") if not selected or p.stem.removeprefix("bench_") in selected
    )
    if not scripts:
        print("no benchmarks found", file=sys.stderr)
        return 1
    failed = 0
    for script in scripts:
        print(f"=== {script.stem} ===", flush=True)
        code = subprocess.call([sys.executable, str(script)], cwd=here.parent)
        if code:
            print(f"{script.stem} exited {code}", flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run every benchmark script and write a markdown digest of their results.

    python -m bench                 # every bench/bench_*.py, then bench/results/SUMMARY.md
    python -m bench store consent   # only bench_store.py and bench_consent.py
    python -m bench --summary-only  # rewrite SUMMARY.md from the JSON already in bench/results

Each script writes its own `bench/results/<name>.json`; this runner only sequences them (one at a
time: they measure speed, so they must not compete for the two cores) and flattens their numbers
into one table per file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"


def _scripts(names: list[str]) -> list[Path]:
    available = {p.stem.removeprefix("bench_"): p for p in sorted(BENCH_DIR.glob("bench_*.py"))}
    unknown = [n for n in names if n not in available]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; known: {sorted(available)}")
    return [available[n] for n in names] if names else list(available.values())


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, rows)
    elif isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            rows.append((prefix, ", ".join(str(v) for v in value)))
        # lists of records (per-seed details) stay in the JSON; the digest keeps the summaries
    else:
        rows.append((prefix, str(value)))


def write_summary() -> Path:
    """Write bench/results/SUMMARY.md from every results JSON."""
    lines = ["# Benchmark results", ""]
    for path in sorted(RESULTS_DIR.glob("*.json")):
        rows: list[tuple[str, str]] = []
        _flatten("", json.loads(path.read_text()), rows)
        lines += [f"## {path.stem}", "", "| figure | value |", "|---|---|"]
        lines += [f"| {key} | {val} |" for key, val in rows]
        lines.append("")
    out = RESULTS_DIR / "SUMMARY.md"
    out.write_text("\n".join(lines))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--summary-only", action="store_true", help="only rewrite SUMMARY.md")
    args = parser.parse_args()
    failed: list[str] = []
    if not args.summary_only:
        for script in _scripts(args.names):
            print(f"== {script.name}", flush=True)
            started = time.perf_counter()
            code = subprocess.call([sys.executable, str(script)], cwd=BENCH_DIR.parent)
            print(f"== {script.name}: exit {code} in {time.perf_counter() - started:.1f} s")
            if code != 0:
                failed.append(script.name)
    print(f"wrote {write_summary()}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The test suite's time (issue 19: `make test` under 20 minutes on 2 cores), read from pytest logs.

pytest runs with `--durations=30` (pyproject addopts), so every CI log ends with the slowest
tests and the summary line. This reads one or more such logs (`label=path`: "unit", "integration"
or "make-test"), takes each one's test count, wall seconds and slowest tests, and writes
bench/results/test_suite.json with the target (the whole `make test` <= 16 min, margin under the
20-min limit). Not a `bench_*.py` script: it runs nothing (`python -m bench` does not call it);
the suite is far too long to run as a benchmark on a shared machine.

Run: .venv/bin/python bench/suite_durations.py unit=LOG integration=LOG [make-test=LOG]
         [--load LABEL=1MIN_LOAD ...] [--note TEXT]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results") / "test_suite.json"
TARGET_MIN = 16.0
LIMIT_MIN = 20.0
_SUMMARY = re.compile(r"=*\s*(?P<body>.*?) in (?P<seconds>[\d.]+)s(?: \([\d:]+\))?\s*=*$")
_DURATION = re.compile(r"^(?P<seconds>[\d.]+)s (?P<phase>call|setup|teardown)\s+(?P<test>\S+)")
_COUNT = re.compile(r"(?P<n>\d+) (?P<what>passed|failed|errors?|skipped|deselected)")


def parse_log(text: str, slowest: int = 10) -> dict[str, Any]:
    """The summary counts, wall seconds and `slowest` durations of one pytest log."""
    lines = text.splitlines()
    summaries = [m for m in map(_SUMMARY.match, lines) if m and _COUNT.search(m["body"])]
    if not summaries:
        raise ValueError("no pytest summary line (`N passed in S s`) in the log")
    last = summaries[-1]
    counts = {m["what"].rstrip("s"): int(m["n"]) for m in _COUNT.finditer(last["body"])}
    durations = [m for m in map(_DURATION.match, lines) if m]
    return {
        "wall_s": float(last["seconds"]),
        "wall_min": round(float(last["seconds"]) / 60, 2),
        "counts": counts,
        "slowest": [f"{m['seconds']}s {m['phase']} {m['test']}" for m in durations[:slowest]],
    }


def _targets(runs: dict[str, dict[str, Any]], loads: dict[str, float]) -> list[dict[str, Any]]:
    if "make-test" in runs:
        minutes, source = runs["make-test"]["wall_min"], "make-test"
    elif "unit" in runs and "integration" in runs:
        minutes = round(runs["unit"]["wall_min"] + runs["integration"]["wall_min"], 2)
        source = "unit + integration (pytest time only: lint and collection of one run excluded)"
    else:
        return []
    load = loads.get("make-test", max(loads.values(), default=float("nan")))
    why = f"from {source}; machine_load_1min {load} on 2 cores"
    if load == load and load > 2.5:  # not NaN, and well above the 2 cores
        why += (
            ": the load is above the 2 cores (other work on the machine, or under -n 2 the run's"
            " own workers and the processes they start: see the note)"
        )
    return [
        {
            "name": "make test wall time on 2 cores",
            "target": f"<= {TARGET_MIN:g} min (limit {LIMIT_MIN:g} min)",
            "value": f"{minutes} min",
            "met": minutes <= TARGET_MIN,
            "why": why,
        }
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", help="label=path of a pytest log")
    parser.add_argument("--load", action="append", default=[], help="label=1-min load average")
    parser.add_argument("--note", default="", help="what the figures are (written as `note`)")
    args = parser.parse_args()
    runs: dict[str, dict[str, Any]] = {}
    for item in args.logs:
        label, _, path = item.partition("=")
        runs[label] = {"log": path, **parse_log(Path(path).read_text(errors="replace"))}
    loads = {k: float(v) for k, v in (item.partition("=")[::2] for item in args.load)}
    for label, load in loads.items():
        if label in runs:
            runs[label]["machine_load_1min"] = load
    body = {
        "machine": {"cpus": 2, "python": platform.python_version()},
        "note": args.note,
        "runs": runs,
        "targets": _targets(runs, loads),
    }
    RESULTS.write_text(json.dumps(body, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

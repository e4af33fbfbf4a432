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


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _targets(results: dict[str, Any]) -> list[str]:
    """One row per declared target: a results file may hold `"targets": [{"name", "target",
    "value", "met", "why"}]`; `why` explains a miss (or how it was met)."""
    rows = []
    for stem, body in results.items():
        for t in body.get("targets", []) if isinstance(body, dict) else []:
            met = "yes" if t.get("met") else "**NO**"
            why = "" if t.get("why") == "met" else t.get("why", "")
            cells = (stem, t["name"], t["target"], t["value"], met, why)
            rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if not rows:
        return []
    header = ["## Targets", "", "| benchmark | figure | target | value | met | why |"]
    return [*header, "|---|---|---|---|---|---|", *rows, ""]


def write_summary() -> Path:
    """Write bench/results/SUMMARY.md from every results JSON: first the declared targets
    (target | value | met), then every figure of every file."""
    results = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS_DIR.glob("*.json"))}
    lines = ["# Benchmark results", "", *_targets(results)]
    for stem, body in results.items():
        rows: list[tuple[str, str]] = []
        profiles = {k: v for k, v in body.items() if k.startswith("profile")}
        figures = {k: v for k, v in body.items() if k != "targets" and k not in profiles}
        _flatten("", figures, rows)
        lines += [f"## {stem}", "", "| figure | value |", "|---|---|"]
        lines += [f"| {key} | {val} |" for key, val in rows]
        lines.append("")
        for key, profile in profiles.items():
            lines += [f"{key}:", "", "```text", *map(str, profile), "```", ""]
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

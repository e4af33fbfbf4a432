"""`consentfl` start-up: wall time of `consentfl --help` and of `import api.cli`, and what the
import loads (python -X importtime), on this tree and optionally on a baseline tree.

Run: .venv/bin/python bench/bench_cli.py [--repeat 7] [--baseline /path/to/other/tree]
The baseline is another checkout with its own .venv (e.g. the tree before the imports were made
lazy); its figures are recorded beside this tree's under "baseline". Writes bench/results/cli.json.
Each figure is the median of `--repeat` fresh processes; the load average is recorded, since the
machine is shared and wall time grows with it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results") / "cli.json"
HEAVY = ("torch", "sklearn", "pandas", "eth_tester", "web3", "fastapi", "uvicorn", "numpy")


def _run(command: list[str], cwd: Path, repeat: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of `repeat` fresh processes; run in
    `cwd`, the tree measured (`python -c` puts the working directory first on sys.path)."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            command, check=True, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def _importtime(python: str, cwd: Path) -> dict[str, Any]:
    """api.cli's cumulative import time (self + children, microseconds) and the heavy packages
    among the modules it loads."""
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", "import api.cli"],
        check=True, capture_output=True, text=True, cwd=cwd,
    )  # fmt: skip
    cumulative = {}
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            cumulative.setdefault(match.group(3).strip(), int(match.group(1)))
    return {
        "import_api_cli_cumulative_ms": round(cumulative["api.cli"] / 1000, 1),
        "modules_loaded": len(cumulative),
        "heavy_loaded": sorted(m for m in HEAVY if m in cumulative),
    }


def _measure(tree: Path, repeat: int) -> dict[str, Any]:
    python = str(tree / ".venv" / "bin" / "python")
    consentfl = str(tree / ".venv" / "bin" / "consentfl")
    figures: dict[str, Any] = {}
    for name, command in (
        ("help", [consentfl, "--help"]),
        ("import", [python, "-c", "import api.cli"]),
        ("python_startup", [python, "-c", "pass"]),
    ):
        wall, cpu = _run(command, tree, repeat)
        figures |= {f"{name}_wall_s": round(wall, 3), f"{name}_cpu_s": round(cpu, 3)}
    return figures | _importtime(python, tree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--baseline", type=Path, default=None)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    figures = _measure(Path(__file__).resolve().parents[1], args.repeat)
    baseline = None if args.baseline is None else _measure(args.baseline, max(3, args.repeat // 2))
    result: dict[str, Any] = {
        "cli_startup": {
            "what": "consentfl --help and `import api.cli`, median of fresh processes",
            "repeat": args.repeat,
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            **figures,
        },
    }
    if baseline is not None:
        result["baseline"] = {"tree": str(args.baseline), **baseline}
    result["targets"] = [
        {
            "name": "consentfl --help wall time",
            "target": "<= 1.5 s",
            "value": f"{figures['help_wall_s']} s",
            "met": figures["help_wall_s"] <= 1.5,
            "why": "every command starts with it: an operator's first contact, and the light "
            "commands (consent, study, audit keygen) must not pay for torch",
        },
        {
            "name": "heavy packages loaded by `import api.cli`",
            "target": "none",
            "value": ", ".join(figures["heavy_loaded"]) or "none",
            "met": not figures["heavy_loaded"],
            "why": "torch, scikit-learn, eth-tester, web3 and the server load inside the commands "
            "that use them (tests/unit/api/test_cli_startup.py)",
        },
    ]
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

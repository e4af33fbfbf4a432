"""The auditor's cost per round on anvil, before and after, into bench/results/audit.json.

`bench/bench_flower.py` times the end audit (`AuditVerifier(...).verify()`, every round checked
once) inside each consentfl study; its `audit_s_per_round` is the audit over the rounds. Run it
for the old code and the new one right after each other (the machine is shared), each with
`--chains anvil --repeats 1 --out FILE`, then:

    .venv/bin/python bench/audit_per_round.py --before BEFORE.json --after AFTER.json \
        --before-label 564ebba

This keeps the rest of audit.json (`bench_audit_cache.py` writes its own key and targets) and
replaces only this script's key and target.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results") / "audit.json"
KEY = "audit_per_round"
NAME = "audit per round on anvil (20 rounds, 3 hospitals: the end audit over the rounds)"


def _figures(path: Path) -> dict[str, Any]:
    run = json.loads(path.read_text())
    ours = run["consentfl_by_chain"]["anvil"]
    return {
        "audit_s_per_round": ours["audit_s_per_round"],
        "audit_s": ours["audit_s"],
        "audit_checks": ours["audit_checks"],
        "audit_passed": ours["audit_passed"],
        "machine_load_1min": run.get("machine_load_1min"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="bench_flower's JSON, old code")
    parser.add_argument("--after", type=Path, required=True, help="bench_flower's JSON, this code")
    parser.add_argument("--before-label", default="before")
    parser.add_argument("--note", default="", help="appended to the target's why")
    args = parser.parse_args()
    before, after = _figures(args.before), _figures(args.after)
    if before["audit_checks"] != after["audit_checks"] or not after["audit_passed"]:
        raise SystemExit(f"not the same audit: before {before}, after {after}")
    met = after["audit_s_per_round"] < before["audit_s_per_round"]
    target = {
        "name": NAME,
        "target": f"< {args.before_label}'s in the same run",
        "value": f"{after['audit_s_per_round']} s (before {before['audit_s_per_round']} s)",
        "met": met,
        "why": (
            "the logs read once over all contracts, rounds and contributions rebuilt from events, "
            "block timestamps batched (Chain.block_timestamps); "
            f"same {after['audit_checks']} checks, passed; load "
            f"{before['machine_load_1min']} / {after['machine_load_1min']} (before / after run)"
            + (f"; {args.note}" if args.note else "")
        ),
    }
    result = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    result[KEY] = {"before": {"code": args.before_label, **before}, "after": after}
    result["targets"] = [t for t in result.get("targets", []) if t["name"] != NAME] + [target]
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result[KEY], indent=2))


if __name__ == "__main__":
    main()

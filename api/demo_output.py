"""What `consentfl demo` leaves in its out dir: summary.json, audit.html, accuracy.png."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from api.demo import DemoResult
from api.report import render_audit_html
from consent.privacy_mode import PrivacyMode

__all__ = ["summary_json", "write_outputs"]

_LABELS = {
    "accuracy": "test accuracy (%)",
    "ari": "test adjusted Rand index",
    "inertia": "test inertia",
    "r2": "test R²",
}


def summary_json(result: DemoResult) -> dict[str, Any]:
    """`summary.json`: per round its number, accuracy, samples per hospital, consent block,
    model CID, the strategy's decisions and the contribution values; the revoked patients; the
    verifier's result."""
    config = result.config
    return {
        "study": result.study,
        "dataset": config.dataset,
        "hospitals": config.hospitals,
        "rounds": [row.to_json() for row in result.rounds],
        "revoked": sorted(result.revoked),
        "revoked_by_hospital": {p: h for p, h in sorted(result.revoked.items())},
        "revoked_after_round": config.revoke_after,
        "audit": None if result.audit is None else result.audit.to_json(),
        "mode": config.mode,
        "epsilon_target": config.epsilon if PrivacyMode(config.mode).dp else None,
        "epsilon_spent": dict(result.epsilon_spent),
        "patient_epsilon": dict(result.patient_epsilon),
        "secagg": dict(result.secagg),
        "ended": result.ended,
        "unlearning": result.unlearning,
        "api_url": result.api_url,
        "seconds": round(result.seconds, 2),
    }


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plot(result: DemoResult, path: Path) -> None:
    rows = [row for row in result.rounds if row.metric is not None]
    figure, (axes, worth) = plt.subplots(1, 2, figsize=(11, 3.5), dpi=100)
    if rows:
        name = rows[0].metric_name
        scale = 100.0 if name == "accuracy" else 1.0
        axes.plot([r.round for r in rows], [scale * (r.metric or 0.0) for r in rows], marker="o")
        axes.set_ylabel(_LABELS.get(name, f"test {name}"))
    hospitals = sorted({h for row in result.rounds for h in row.values})
    for hospital in hospitals:
        points = [(r.round, r.values[hospital]) for r in result.rounds if hospital in r.values]
        worth.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=hospital)
    worth.set_ylabel("contribution value (Shapley)")
    worth.axhline(0, color="black", linewidth=0.5)
    if hospitals:
        worth.legend(fontsize=7)
    for panel in (axes, worth):
        panel.axvline(result.config.revoke_after - 0.5, color="grey", linestyle="--", linewidth=1)
        panel.annotate(
            "revocations",
            xy=(result.config.revoke_after - 0.5, 0.05),
            xycoords=("data", "axes fraction"),
            rotation=90,
            color="grey",
            fontsize=8,
        )
        panel.set_xlabel("round")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.grid(alpha=0.3)
    axes.set_title(f"consentfl demo: {result.config.dataset}, {result.config.hospitals} hospitals")
    worth.set_title("each hospital's contribution per round")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write_outputs(result: DemoResult) -> dict[str, Path]:
    """Write summary.json, audit.html and accuracy.png into the demo's out dir."""
    out = result.config.out
    paths = {
        "summary": out / "summary.json",
        "audit": out / "audit.html",
        "plot": out / "accuracy.png",
    }
    _atomic_write(paths["summary"], json.dumps(summary_json(result), indent=2).encode() + b"\n")
    if result.audit is not None:
        html = render_audit_html(result.audit, title="consentfl demo audit")
        _atomic_write(paths["audit"], html.encode())
    _plot(result, paths["plot"])
    return paths

"""A readable HTML page of an audit report (for the demo and for auditors)."""

from __future__ import annotations

from html import escape

from chain.audit import AuditReport

__all__ = ["render_audit_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr.fail td { background: #fde8e8; }
.pass { color: #166534; font-weight: 600; } .fail { color: #b91c1c; font-weight: 600; }
code { font-size: 0.85em; word-break: break-all; }
"""


def render_audit_html(report: AuditReport, *, title: str = "consentfl audit") -> str:
    """A self-contained HTML page: verdict, summary per check, then every check (failures first)."""
    verdict = "PASSED" if report.passed else "FAILED"
    css = "pass" if report.passed else "fail"
    kinds: dict[str, list[int]] = {}
    for check in report.checks:
        counts = kinds.setdefault(check.check, [0, 0])
        counts[0 if check.passed else 1] += 1
    summary = "".join(
        f"<tr><td>{escape(kind)}</td><td>{ok}</td><td>{bad}</td></tr>"
        for kind, (ok, bad) in kinds.items()
    )
    ordered = sorted(report.checks, key=lambda c: (c.passed, c.round or 0, c.check))
    rows = "".join(
        f'<tr class="{"pass" if c.passed else "fail"}">'
        f'<td class="{"pass" if c.passed else "fail"}">{"pass" if c.passed else "FAIL"}</td>'
        f"<td>{escape(c.check)}</td><td>{'' if c.round is None else c.round}</td>"
        f"<td><code>{escape(c.hospital or '')}</code></td><td><code>{escape(c.subject)}</code></td>"
        f"<td>{escape(c.detail)}</td></tr>"
        for c in ordered
    )
    study = "0x" + bytes(report.study).hex()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{escape(title)}: <span class="{css}">{verdict}</span></h1>
<p>Study <code>{study}</code>, {report.rounds} round(s), verified at block {report.block}:
{len(report.checks)} checks, {len(report.failures)} failed.</p>
<h2>Summary</h2>
<table><tr><th>check</th><th>passed</th><th>failed</th></tr>{summary}</table>
<h2>Checks</h2>
<table><tr><th></th><th>check</th><th>round</th><th>hospital</th><th>subject</th><th>detail</th></tr>
{rows}</table>
</body></html>
"""

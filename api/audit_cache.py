"""Audit reports computed off the request path and cached per (study, block, proofs).

A whole audit walks every round, artifact and proof (seconds on a real study), and
`GET /v1/studies/{study}/audit` is unauthenticated, so a request never computes one. It asks
`AuditCache.lookup(study, head_block)`:

* a report at or after `head_block`, over the same published proofs and younger than `max_age`,
  is current: it is served as is;
* otherwise one computation of the study is queued (at most one per study is queued or running;
  one worker thread runs them in turn), and the request gets the newest report already computed
  (marked not up to date), or nothing, if none exists yet (the router answers 202 + Retry-After).

A computation that failed (chain or store down) is remembered until the next lookup of that study,
which raises it (so the client gets the 503) and queues a retry.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chain.audit import AuditReport
from consent.ids import StudyId

__all__ = ["AuditCache", "CachedReport", "proofs_fingerprint"]

logger = logging.getLogger(__name__)

Compute = Callable[[StudyId], AuditReport]


def proofs_fingerprint(directory: Path | None) -> tuple[tuple[str, int, int], ...]:
    """(name, size, mtime) of every file under the proofs directory: a published, edited or
    removed proof makes a cached report stale although no block came."""
    if directory is None or not directory.is_dir():
        return ()
    entries = []
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            stat = path.stat()
            entries.append((str(path.relative_to(directory)), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


@dataclass(frozen=True, slots=True)
class CachedReport:
    """A computed report, with what it was computed over."""

    report: AuditReport
    proofs: tuple[tuple[str, int, int], ...]
    computed_at: float


@dataclass(frozen=True, slots=True)
class _Job:
    study: StudyId
    proofs: tuple[tuple[str, int, int], ...]


class AuditCache:
    """The newest report per study, refreshed by one background worker thread."""

    def __init__(
        self,
        compute: Compute,
        *,
        max_age: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._compute = compute
        self._max_age = max_age
        self._clock = clock
        self._reports: dict[StudyId, CachedReport] = {}
        self._errors: dict[StudyId, Exception] = {}
        self._pending: set[StudyId] = set()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.computations = 0
        """How many audits the worker ran (tests and the bench read it)."""

    def has_report(self, study: StudyId) -> bool:
        """Whether a report of `study` was computed (then the study exists: studies are never
        deleted, so a cached GET need not ask the chain again)."""
        with self._lock:
            return study in self._reports

    def lookup(
        self, study: StudyId, head_block: int, proofs: tuple[tuple[str, int, int], ...]
    ) -> tuple[CachedReport | None, bool]:
        """The newest cached report of `study` (or None) and whether it is current; queues a
        computation when it is not. Raises the error of a failed computation once."""
        with self._lock:
            cached = self._reports.get(study)
            error = self._errors.pop(study, None)
            current = (
                cached is not None
                and cached.report.block >= head_block
                and cached.proofs == proofs
                and self._clock() - cached.computed_at <= self._max_age
            )
            if not current:
                self._enqueue(_Job(study, proofs))
        if error is not None and cached is None:
            raise error
        return cached, current

    def _enqueue(self, job: _Job) -> None:
        if job.study in self._pending:
            return
        self._pending.add(job.study)
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="audit-cache", daemon=True)
            self._worker.start()
        self._jobs.put(job)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                report = self._compute(job.study)
            except Exception as exc:  # any failure is the next lookup's answer
                logger.warning("audit of 0x%s failed: %s", bytes(job.study).hex(), exc)
                with self._lock:
                    self._errors[job.study] = exc
                    self._pending.discard(job.study)
                continue
            with self._lock:
                self.computations += 1
                self._reports[job.study] = CachedReport(report, job.proofs, self._clock())
                self._pending.discard(job.study)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no computation is queued or running (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        """Stop the worker after the running computation (the app's shutdown)."""
        worker = self._worker
        if worker is not None and worker.is_alive():
            self._jobs.put(None)
            worker.join(timeout=30)

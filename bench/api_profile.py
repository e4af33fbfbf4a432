"""Where the API server's CPU goes per relayed revocation (`bench/bench_api.py`, issue 19).

Two measures:

- `cpu_seconds(pid)`: a process's user + system CPU from `/proc/<pid>/stat`, read before and
  after a run (unprofiled: the server's and anvil's CPU per revocation);
- `LAUNCHER` + `cpu_split`: the server under cProfile in every thread with `time.thread_time` as
  the timer, so a thread blocked on a lock, a queue or a socket counts nothing (a wall-clock
  profile, as before session 7, charged lock waits and the GIL to whatever was waiting), and
  the per-thread profiles merged; `cpu_split` turns them into milliseconds of CPU per request
  for the relay's stages. cProfile's own overhead inflates Python-heavy code, so the split says
  where the CPU goes, the unprofiled `cpu_seconds` how much there is.
"""

from __future__ import annotations

import io
import os
import pstats
from pathlib import Path
from typing import Any, Final

__all__ = ["LAUNCHER", "STAGES", "cpu_seconds", "cpu_split", "profile_top"]

LAUNCHER: Final = """
import cProfile, pstats, signal, sys, threading, time
profiles, marks = [], {}
def _start(*_):
    profile = cProfile.Profile(time.thread_time)
    profiles.append(profile)
    profile.enable()  # replaces this hook for the thread: each thread gets its own profile
def _mark(*_):  # SIGUSR1 after the warm-up: what each profile holds so far is left out
    profiles[0].disable()  # the main thread's (this one): restarted below, after the copies
    for profile in profiles[1:]:
        profile.snapshot_stats()  # reads, does not stop, another thread's profile
        marks[id(profile)] = {k: (*v[:4], dict(v[4])) for k, v in profile.stats.items()}
    profiles[0] = cProfile.Profile(time.thread_time)
    profiles[0].enable()
def _less(now, then):
    return tuple(a - b for a, b in zip(now, then))
class _Since:
    def __init__(self, profile):
        profile.create_stats()
        then = marks.get(id(profile), {})
        self.stats = {}
        for key, (cc, nc, tt, ct, callers) in profile.stats.items():
            old = then.get(key)
            if old is not None:
                cc, nc, tt, ct = _less((cc, nc, tt, ct), old[:4])
                callers = {k: _less(v, old[4].get(k, (0,) * len(v))) for k, v in callers.items()}
            if nc > 0:
                self.stats[key] = (cc, nc, tt, ct, callers)
    def create_stats(self):
        pass
def _dump(*_):
    since = [_Since(p) for p in profiles if p.getstats()]
    pstats.Stats(*[s for s in since if s.stats]).dump_stats(OUT)
    sys.exit(0)
# uvicorn re-raises the SIGTERM it caught once it has shut down: dump then
signal.signal(signal.SIGTERM, _dump)
signal.signal(signal.SIGUSR1, _mark)
threading.setprofile(_start)
_start()
from api.cli import app
sys.argv = ["consentfl", *sys.argv[2:]]
app()
"""
"""`python -c LAUNCHER consentfl api ...` with OUT replaced by the profile's path (repr); send
it SIGUSR1 after a warm-up (imports, the relay view's catch-up over the set-up's logs, the
worker threads' start): the profile dumped at SIGTERM holds only what came after."""

STAGES: Final = {
    "relay_revoke": ("chain/relay.py", "revoke"),
    "relay_signature_check": ("chain/relay.py", "_plausible"),
    "relay_view_refresh": ("chain/relay_view.py", "refresh"),
    "signed_receipt": ("api/receipts.py", "receipt_if_signable"),
    "batcher_send": ("chain/relay_batcher.py", "_send"),
    "batcher_settle": ("chain/relay_batcher.py", "_settle_one"),
}
"""Stage -> (file suffix, function) whose cumulative CPU is the stage's. `relay_revoke` contains
the signature check and the view refresh; the batcher's stages run on its own threads, once per
batch; `other` is everything else (HTTP parsing, routing, pydantic, JSON, the event loop)."""
_TOP_LEVEL: Final = ("relay_revoke", "signed_receipt", "batcher_send", "batcher_settle")
_BLOCKING: Final = frozenset(
    {
        "<method 'acquire' of '_thread.lock' objects>",
        "<method 'get' of '_queue.SimpleQueue' objects>",
    }
)
"""Left out of the total: a thread blocked in one of these when the main thread dumps the
profiles has its open call closed with the *main* thread's clock (cProfile closes it in the
thread that disables the profile), a meaningless figure; a finished wait costs ~0 CPU anyway."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds `pid` has used so far (Linux `/proc`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_split(path: Path, requests: int) -> dict[str, Any]:
    """Milliseconds of CPU per request for each of `STAGES`, `other` and `total` (all threads)."""
    stats = pstats.Stats(str(path))
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    cumulative = {name: 0.0 for name in STAGES}
    total = 0.0
    for (filename, _line, function), (_cc, _nc, tt, ct, _callers) in raw.items():
        total += 0.0 if function in _BLOCKING else tt
        for name, (suffix, wanted) in STAGES.items():
            if function == wanted and filename.endswith(suffix):
                cumulative[name] += ct
    split = {name: round(1000 * seconds / requests, 2) for name, seconds in cumulative.items()}
    other = total - sum(cumulative[name] for name in _TOP_LEVEL)
    split["other"] = round(1000 * other / requests, 2)
    split["total"] = round(1000 * total / requests, 2)
    return split


def profile_top(path: Path, lines: int = 25) -> list[str]:
    """The functions with the most CPU of their own in the profiled server (all threads; the
    blocking waits, see `_BLOCKING`, left out)."""
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    raw: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    for key in [key for key in raw if key[2] in _BLOCKING]:
        del raw[key]
    stats.sort_stats("tottime").print_stats(lines)
    body = [line.rstrip() for line in out.getvalue().splitlines() if line.strip()]
    return [line.replace(str(Path.cwd()) + "/", "") for line in body[-lines - 1 :]]

"""Two independent pieces of a role's step run at once (issue 19: artifact work overlapped).

A role's step waits on things that release the GIL: store reads and writes (file or HTTP I/O),
SHA-256 (hashlib releases it for large buffers), chain requests (socket I/O), torch kernels.
`overlapped(first, second)` runs `first` on a short-lived worker thread while `second` runs on the
calling thread, and returns both results as if they had run one after the other: `first`'s
failure is raised in preference to `second`'s (it would have stopped the sequence first), and the
worker is always waited for, so nothing of the step is still running when it returns or raises.

Only work that needs nothing from the other piece is overlapped; whatever depends on both (a
submission needs the stored artifact and its hash) comes after, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["overlapped"]

A = TypeVar("A")
B = TypeVar("B")


def overlapped(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """`(first(), second())`, with `first` on a worker thread meanwhile (see the module
    docstring for which failure is raised)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="overlap") as pool:
        future = pool.submit(first)
        try:
            second_result = second()
        except BaseException:
            future.result()  # `first` failed too: its error is the one a sequence would raise
            raise
        return future.result(), second_result

"""fl.roles.overlap: two pieces of a step at once, results and failures as in sequence."""

from __future__ import annotations

import threading

import pytest

from fl.roles.overlap import overlapped


def test_both_results_come_back_and_the_first_ran_on_another_thread_meanwhile() -> None:
    started = threading.Event()
    threads: list[str] = []

    def first() -> str:
        threads.append(threading.current_thread().name)
        started.set()
        return "base"

    def second() -> int:
        # only returns once `first` is running: they overlap (a sequence would deadlock here)
        assert started.wait(timeout=10)
        return 7

    assert overlapped(first, second) == ("base", 7)
    assert threads
    assert threads[0] != threading.current_thread().name


def test_the_first_pieces_failure_wins_over_the_seconds() -> None:
    def first() -> None:
        raise LookupError("base model mismatch")

    def second() -> None:
        raise ConnectionError("node down")

    with pytest.raises(LookupError, match="base model mismatch"):
        overlapped(first, second)


def test_the_seconds_failure_is_raised_once_the_first_finished() -> None:
    finished = threading.Event()

    def first() -> int:
        finished.wait(timeout=0.2)
        finished.set()
        return 1

    def second() -> None:
        raise ConnectionError("node down")

    with pytest.raises(ConnectionError, match="node down"):
        overlapped(first, second)
    assert finished.is_set()  # the worker was waited for: nothing still runs


def test_the_firsts_failure_alone_is_raised() -> None:
    def first() -> None:
        raise ValueError("bad bytes")

    with pytest.raises(ValueError, match="bad bytes"):
        overlapped(first, lambda: 3)

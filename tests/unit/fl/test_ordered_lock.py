"""`fl.determinism.OrderedLock`: mutual exclusion, reentrancy, and waiting threads admitted by
priority (the embedded study's hospitals train in their submission order)."""

from __future__ import annotations

import threading
import time

import pytest

from fl.determinism import OrderedLock, deterministic_torch, training_turn


def _wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.001)


def _admission_order(priorities: list[int]) -> list[int]:
    """Start one thread per priority while the lock is held, each queued before the next starts;
    release; return the indices in the order the threads got the lock."""
    lock = OrderedLock()
    order: list[int] = []
    threads = []

    def take(index: int, priority: int) -> None:
        with lock.held(priority):
            order.append(index)

    with lock.held():
        for index, priority in enumerate(priorities):
            thread = threading.Thread(target=take, args=(index, priority))
            thread.start()
            threads.append(thread)
            _wait_until(lambda n=index + 1: len(lock._waiting) == n)
    for thread in threads:
        thread.join(10)
    return order


def test_waiting_threads_are_admitted_lowest_priority_first() -> None:
    assert _admission_order([2, 0, 1]) == [1, 2, 0]


def test_equal_priorities_are_first_come_first_served() -> None:
    assert _admission_order([1, 1, 0, 1]) == [2, 0, 1, 3]


def test_the_lock_is_mutually_exclusive() -> None:
    lock = OrderedLock()
    inside = 0
    most = 0
    guard = threading.Lock()

    def work(priority: int) -> None:
        nonlocal inside, most
        for _ in range(50):
            with lock.held(priority):
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.0001)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work, args=(p % 3,)) for p in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most == 1
    assert inside == 0
    assert lock._owner is None
    assert not lock._waiting


def test_the_lock_is_reentrant_and_released_after_an_error() -> None:
    lock = OrderedLock()
    depths: list[int] = []

    def nested_then_fail() -> None:
        with lock.held(3):
            with lock.held(0):
                depths.append(lock._depth)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        nested_then_fail()
    assert depths == [2]
    assert lock._owner is None
    assert lock._depth == 0
    got = threading.Event()

    def take() -> None:
        with lock.held():
            got.set()

    thread = threading.Thread(target=take)
    thread.start()
    thread.join(10)
    assert got.is_set()


def test_training_turn_is_per_thread_and_restored() -> None:
    from fl import determinism

    with training_turn(2):
        assert determinism._TURN.position == 2
        with training_turn(0):
            assert determinism._TURN.position == 0
        assert determinism._TURN.position == 2
        seen: list[object] = []
        thread = threading.Thread(
            target=lambda: seen.append(getattr(determinism._TURN, "position", None))
        )
        thread.start()
        thread.join(10)
        assert seen == [None]
        with deterministic_torch():
            assert determinism._LOCK._owner == threading.get_ident()
    assert getattr(determinism._TURN, "position", None) is None


def test_deterministic_torch_admits_waiting_hospitals_in_their_turn() -> None:
    from fl import determinism

    order: list[int] = []

    def train(position: int) -> None:
        with training_turn(position), deterministic_torch():
            order.append(position)

    threads = []
    with determinism._LOCK.held():
        for count, position in enumerate([2, 1, 0], start=1):
            thread = threading.Thread(target=train, args=(position,))
            thread.start()
            threads.append(thread)
            _wait_until(lambda n=count: len(determinism._LOCK._waiting) == n)
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2]

"""Where a round's time goes on anvil (issue 19): wall-clock spans of every thread's steps.

The study of `bench/bench_flower.py` (breast cancer, 3 hospitals, MLP, `api.embedded` on an anvil
started from node_modules, hospitals stepped concurrently by `api.embedded_steps`). A few of the
round's steps are wrapped (at class or module level, for this process only) to record
`(thread, step, start, end)`: the trainer's and aggregator's steps, local training, every
transaction (`Sender.transact`), view call (`call_view`) and store `put`/`get`. Prints, for rounds
2..R, each round's wall time, then per thread and step the count and time per round, and one
round's timeline (offsets in ms from its start). `--profile FILE` also writes cProfile stats of
the rounds (every thread's profile merged; `python -m pstats FILE`).

Run: .venv/bin/python bench/round_timeline.py [--rounds 20 --show-round 10 --profile /tmp/r.prof]
With PYTHONPATH=<an older tree> it times that tree's code (the wrappers skip what it lacks).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import chain._facade
from api.embedded import EmbeddedStudy
from chain.devnet import start_anvil, stop_service
from chain.store.local import LocalStore
from chain.transactions import Sender
from fl.models import ModelSpec
from fl.roles import Aggregator, StudyPlan, Trainer
from fl.split import split_dataset
from fl.train import LocalTrainingConfig

Span = tuple[str, str, float, float]
SPANS: list[Span] = []
PROFILES: list[cProfile.Profile] = []
_LOCAL = threading.local()


def _spanned(name: str, fn: Callable[..., Any], profiled: bool = False) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        profile = getattr(_LOCAL, "profile", None) if profiled else None
        if profiled and profile is None and PROFILES:  # a hospital thread: its own profile
            profile = _LOCAL.profile = cProfile.Profile()
            PROFILES.append(profile)
        if profile is not None and threading.current_thread() is not threading.main_thread():
            profile.enable()
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPANS.append((threading.current_thread().name, name, start, time.perf_counter()))
            if profile is not None and threading.current_thread() is not threading.main_thread():
                profile.disable()

    return wrapper


def instrument() -> None:
    """Wrap the steps named in the module docstring (what exists in the tree imported)."""
    targets: list[tuple[Any, str, str, bool]] = [
        (Trainer, "step", "trainer.step", True),
        (Trainer, "_prepare", "trainer.prepare", False),
        (Aggregator, "finalize", "aggregator.finalize", False),
        (Aggregator, "settle_contributions", "aggregator.settle", False),
        (Aggregator, "current_round", "aggregator.read_round", False),
        (Sender, "transact", "tx", False),
        (chain._facade, "call_view", "view", False),
        (LocalStore, "put", "store.put", False),
        (LocalStore, "get", "store.get", False),
    ]
    for owner, attr, name, profiled in targets:
        if hasattr(owner, attr):
            setattr(owner, attr, _spanned(name, getattr(owner, attr), profiled))


def run(args: argparse.Namespace, rpc: str, workdir: Path) -> list[tuple[float, float]]:
    """The study's rounds on `rpc`; each round's (start, end)."""
    torch.set_num_threads(1)
    split = split_dataset("breast-cancer", args.hospitals, seed=0)
    spec = ModelSpec.mlp(30, "classification", hidden=(64, 32))
    training = LocalTrainingConfig(epochs=2, batch_size=32, lr=0.05, seed=0)
    plan = StudyPlan(model=spec, training=training, init_seed=0, round_timeout_s=0.0)
    study = EmbeddedStudy.create(
        workdir, hospitals=args.hospitals, plan=plan, rounds=args.rounds,
        test_set=split.test, min_updates=args.hospitals, name="round-timeline", rpc=rpc,
    )  # fmt: skip
    rounds: list[tuple[float, float]] = []
    try:
        for k, records in enumerate(split.hospitals):
            study.enroll(k, records)
        main_profile = cProfile.Profile() if args.profile else None
        if main_profile is not None:
            PROFILES.append(main_profile)
        SPANS.clear()
        for _ in range(args.rounds):
            start = time.perf_counter()
            if main_profile is not None:
                main_profile.enable()
            study.run_round()
            if main_profile is not None:
                main_profile.disable()
            rounds.append((start, time.perf_counter()))
    finally:
        study.close()
    return rounds


def report(args: argparse.Namespace, rounds: list[tuple[float, float]]) -> None:
    later = rounds[1:]
    walls = [end - start for start, end in later]
    print(f"rounds 2..{len(rounds)}: mean {statistics.mean(walls):.4f} s, "
          f"median {statistics.median(walls):.4f} s")  # fmt: skip
    inside = [s for s in SPANS if any(a <= s[2] < b for a, b in later)]
    totals: dict[tuple[str, str], list[float]] = defaultdict(list)
    for thread, name, start, end in inside:
        totals[(thread, name)].append(end - start)
    print(f"{'thread':<14} {'step':<22} {'count/round':>11} {'s/round':>9}")
    for (thread, name), spans in sorted(totals.items()):
        print(f"{thread:<14} {name:<22} {len(spans) / len(later):>11.2f} "
              f"{sum(spans) / len(later):>9.4f}")  # fmt: skip
    start, end = rounds[min(args.show_round, len(rounds)) - 1]
    print(f"\nround {args.show_round}: {1000 * (end - start):.1f} ms")
    for thread, name, a, b in sorted(SPANS, key=lambda s: s[2]):
        if start <= a < end:
            print(f"  {1000 * (a - start):7.1f} .. {1000 * (b - start):7.1f}  {thread:<14} {name}")
    if args.profile:
        stats = pstats.Stats(PROFILES[0])
        for profile in PROFILES[1:]:
            stats.add(profile)
        stats.dump_stats(args.profile)
        stats.sort_stats("cumulative").print_stats(args.top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--hospitals", type=int, default=3)
    parser.add_argument("--show-round", type=int, default=10)
    parser.add_argument("--profile", default="", help="write merged cProfile stats here")
    parser.add_argument("--top", type=int, default=40, help="profile rows printed")
    parser.add_argument("--no-spans", action="store_true", help="time the rounds only")
    args = parser.parse_args()
    if not args.no_spans:
        instrument()
    workdir = Path(tempfile.mkdtemp(prefix="round-timeline-"))
    anvil = start_anvil(workdir / "anvil")
    try:
        report(args, run(args, anvil.url, workdir / "study"))
    finally:
        stop_service(anvil)


if __name__ == "__main__":
    main()

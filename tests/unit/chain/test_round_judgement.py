"""Reading the strategy's decisions and the contribution values out of round metrics (what the
rounds endpoint and `study show` list), and the cumulative values a reward is paid on."""

from __future__ import annotations

import json
from pathlib import Path

from chain.round_metrics import METRICS_FORMAT, cumulative_values, read_judgement
from chain.store import LocalStore
from consent.records import RoundRecord
from consent.rounds import RoundState


def round_with(store: LocalStore, round_: int, body: dict[str, object]) -> RoundRecord:
    cid = store.put(json.dumps(body).encode())
    return RoundRecord(round=round_, state=RoundState.FINALIZED, metrics_cid=cid)


def metrics(round_: int, values: dict[str, float] | None) -> dict[str, object]:
    return {
        "format": METRICS_FORMAT,
        "round": round_,
        "accepted": [{"hospital": "0xa", "num_patients": 10}],
        "rejected": [{"hospital": "0xb", "reason": "cosine -0.4 <= 0"}],
        "decisions": [
            {"hospital": "0xa", "kept": True, "weight": 1.0, "reason": "cosine 0.9"},
            {"hospital": "0xb", "kept": False, "weight": 0.0, "reason": "cosine -0.4 <= 0"},
        ],
        "extensions": {}
        if values is None
        else {
            "contributions": {
                "method": "exact",
                "gain": sum(values.values()),
                "evaluations": 4,
                "values": [{"hospital": h, "value": v} for h, v in values.items()],
            }
        },
    }


def test_decisions_and_values_are_read_and_summed_over_rounds(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    views = [
        read_judgement(store, round_with(store, 0, metrics(0, {"0xa": 0.25, "0xb": -0.5}))),
        read_judgement(store, round_with(store, 1, metrics(1, {"0xa": 0.5, "0xb": 0.125}))),
    ]

    assert all(v is not None for v in views)
    assert views[0] is not None
    assert [d["kept"] for d in views[0].decisions] == [True, False]
    assert cumulative_values([v for v in views if v is not None]) == {"0xa": 0.75, "0xb": -0.375}


def test_metrics_without_decisions_or_unreadable_give_none(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    older = {"format": "consentfl.round-metrics/1", "round": 0, "accepted": [], "rejected": []}

    assert read_judgement(store, round_with(store, 0, older)) is None
    assert read_judgement(store, round_with(store, 0, {"format": "something/else"})) is None
    no_values = read_judgement(store, round_with(store, 0, metrics(0, None)))
    assert no_values is not None
    assert no_values.contributions is None
    assert cumulative_values([no_values]) == {}

"""The inventory over HTTP: datasets with scores and the studies using them; a study's
thresholds and its members' offered cards; unknown study is 404 problem+json."""

from __future__ import annotations

from consent.dataset_card import AdmissionThresholds, OnChainScores
from consent.ids import Bytes32
from tests.fixtures.ledger import sender_of
from tests.unit.api.conftest import ApiWorld

SCORES = OnChainScores(7, 2, 100_000, 10_000, 20_000, 30_000, 300, True)


def test_inventory_lists_cards_scores_and_the_studies_using_them(api: ApiWorld) -> None:
    assert api.client.get("/v1/datasets").json() == {"datasets": []}
    world = api.world
    inventory = world.hospitals[0].datasets
    assert inventory is not None
    card = Bytes32(b"\x05" * 32)
    inventory.register_dataset(card, "bafkreicard", SCORES)
    inventory.offer_dataset(world.study, card)
    listed = api.client.get("/v1/datasets").json()["datasets"]
    assert len(listed) == 1
    entry = listed[0]
    assert entry["card_sha256"] == "0x" + card.hex()
    assert (entry["k"], entry["l"], entry["synthetic"], entry["rows"]) == (7, 2, True, 300)
    assert entry["risk_upper"]["inference"] == 0.03
    assert entry["studies"] == [api.study_hex]
    assert entry["hospital"] == sender_of(world.hospitals[0])


def test_study_datasets_show_thresholds_and_offers(api: ApiWorld) -> None:
    world = api.world
    assert world.coordinator.datasets is not None
    body = api.client.get(f"/v1/studies/{api.study_hex}/datasets").json()
    assert body["thresholds"] is None
    assert set(body["members"]) == {sender_of(h) for h in world.hospitals}
    assert all(v is None for v in body["members"].values())
    world.coordinator.datasets.set_thresholds(
        world.study, AdmissionThresholds(5, 1, 500_000, 250_000, allow_synthetic=True)
    )
    body = api.client.get(f"/v1/studies/{api.study_hex}/datasets").json()
    assert body["thresholds"] == {
        "min_k": 5,
        "min_l": 1,
        "max_t_closeness": 0.5,
        "max_risk": 0.25,
        "allow_synthetic": True,
    }
    missing = api.client.get("/v1/studies/never-created/datasets")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")

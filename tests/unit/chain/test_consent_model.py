"""Property test: the contract's consent status at any past block equals a plain Python model
replaying the same random grant / revoke / time-travel sequence."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.errors import NoActiveConsentError
from tests.fixtures.ledger import LedgerWorld, sender_of

PATIENTS = 3


@dataclass(frozen=True)
class Record:
    hospital: int
    granted_block: int
    revoked_block: int  # 0 = not revoked
    expires_at: int  # 0 = never


grant_op = st.tuples(
    st.just("grant"),
    st.integers(0, PATIENTS - 1),
    st.integers(0, 1),
    st.sampled_from([0, 1_000, 5_000]),
)
revoke_op = st.tuples(st.just("revoke"), st.integers(0, PATIENTS - 1), st.just(0), st.just(0))
advance_op = st.tuples(st.just("advance"), st.just(0), st.just(0), st.sampled_from([600, 3_000]))
operations = st.lists(st.one_of(grant_op, revoke_op, advance_op), min_size=1, max_size=10)


def _next_block_timestamp(world: LedgerWorld) -> int:
    """The timestamp the next transaction's block will carry. eth-tester stamps its pending block
    with the wall clock when it opens it (after a revert to this session's snapshot, that can be
    long after the latest mined block), so an expiry counted from the latest block could already
    be past when the grant is mined; counted from the pending block, it is `value` seconds after
    the grant's own block, whatever the load."""
    return int(world.chain.w3.eth.get_block("pending")["timestamp"])


def _consented(record: Record | None, block: int, timestamp: int) -> bool:
    if record is None or record.granted_block > block:
        return False
    if record.revoked_block != 0 and record.revoked_block <= block:
        return False
    return record.expires_at == 0 or record.expires_at > timestamp


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_contract_status_at_every_block_matches_the_python_model(
    eth_tester_ledger_session: LedgerWorld, ops: list[tuple[str, int, int, int]]
) -> None:
    world = eth_tester_ledger_session
    snapshot = world.chain.snapshot()
    try:
        _run(world, ops)
    finally:
        world.chain.revert(snapshot)


def _run(world: LedgerWorld, ops: list[tuple[str, int, int, int]]) -> None:
    # history[b] = model records as of block b (only blocks where something changed are stored)
    current: dict[int, Record] = {}
    history: list[tuple[int, dict[int, Record]]] = [(world.chain.block_number(), {})]
    last_revocation = {0: 0, 1: 0}
    for kind, patient, hospital, value in ops:
        if kind == "grant":
            expires = 0 if value == 0 else _next_block_timestamp(world) + value
            event = world.grant(patient, hospital, expires_at=expires)
            block = event.position.block_number
            assert expires == 0 or world.chain.block_timestamp(block) + value == expires
            previous = current.get(patient)
            if previous and previous.hospital != hospital and previous.revoked_block == 0:
                last_revocation[previous.hospital] = block
            current[patient] = Record(hospital, block, 0, expires)
        elif kind == "revoke":
            record = current.get(patient)
            patient_view = world.as_sender(world.patients[patient]).consents
            if record is None or record.revoked_block != 0:
                try:
                    patient_view.revoke(world.study)
                except NoActiveConsentError:
                    continue
                raise AssertionError("revoke without an active consent was accepted")
            block = patient_view.revoke(world.study).position.block_number
            current[patient] = Record(
                record.hospital, record.granted_block, block, record.expires_at
            )
            last_revocation[record.hospital] = block
        else:
            world.chain.advance_time(value)
            block = world.chain.block_number()
        history.append((block, dict(current)))

    consents = world.coordinator.consents
    patients = [world.patient(i) for i in range(PATIENTS)]
    for index, (block, records) in enumerate(history):
        end = history[index + 1][0] if index + 1 < len(history) else block + 1
        for b in range(block, end):
            timestamp = world.chain.block_timestamp(b)
            expected = [_consented(records.get(i), b, timestamp) for i in range(PATIENTS)]
            assert consents.status_batch(world.study, patients, block=b) == expected, b
    for hospital, block in last_revocation.items():
        address = sender_of(world.hospitals[hospital])
        assert consents.last_revocation_block(world.study, address) == block

"""A hospital's side of privacy mode "secagg" (`consent.secagg`), over the round protocol.

- set-up, once per key epoch: two X25519 key pairs (mask agreement, share sealing) kept in the
  trainer's state directory (0600, every epoch's pairs: a later round's reveal may need an older
  seal key), their public halves registered on chain; once every member hospital has registered
  (or t have and the plan's round timeout passed), the mask private key is dealt t-of-n to those
  registered (`deal_mask_key`), the deal put in the store and its hash recorded on chain
  (`SecAggCoordinator.dealKey`); the epoch binds the rounds opened from then on;
- submit: the local step's delta, quantized with the plan's ring parameters and weighted by the
  number of patients used (the on-chain `numPatients`), masked for the round's roster (each
  member's keys are the epoch that binds the round, `SecAggPort.secagg_keys_at`), with a
  fresh self seed dealt to it (`submit`); the masked update is what the trainer stores and hashes
  on chain instead of a sealed one; data roots, freshness and exclusion proofs are unchanged;
- reveal: once the aggregator closed submissions, a survivor (submitted before the close) opens
  its shares of every survivor's self seed and of every dropped hospital's mask key, checks each
  against its dealer's commitment, and publishes them (`reveal`), hash on chain.

A hospital whose key was burned (it dropped out of a round, so its mask key was revealed)
registers and deals a fresh epoch and is on the roster again from the next round opened after
its deal: the contract keeps a per-round key history, so the rounds the burned epoch bound keep
their transcript.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from torch import Tensor

from consent.formats import FormatError
from consent.formats.key_deal import decode_key_deal, encode_key_deal
from consent.formats.masked_update import decode_masked_update, encode_masked_update
from consent.formats.secagg_reveal import encode_reveal
from consent.ids import Address, Bytes32, StudyId
from consent.private_file import write_private_file
from consent.sealing import SealingError, load_private_key, private_key_bytes, public_key_bytes
from consent.secagg import (
    KeyDeal,
    MaskedUpdate,
    RosterEntry,
    RoundContext,
    SecAggError,
    StudyContext,
    deal_mask_key,
    quantize,
    reveal,
    submit,
)
from consent.secagg.model import flatten
from consent.secagg.shares import Share, open_share
from fl.ports import ArtifactStorePort, LedgerPort, RoundState, SecAggPort
from fl.roles.artifacts import fetch_verified, sha256
from fl.roles.errors import RoleError
from fl.roles.plan import StudyPlan
from fl.roles.records import RoundUsage

__all__ = ["NotOnRosterError", "SecAggHospital", "roster_entries", "secagg_port"]

logger = logging.getLogger(__name__)

_KEY_FILE: Final = "secagg-keys.json"
_ZERO: Final = bytes(32)


class NotOnRosterError(RoleError, ValueError):
    """This hospital is not on the round's secagg roster (its key was not dealt before the
    round opened, or it was burned): it cannot submit to the round."""


def secagg_port(ledger: LedgerPort, port: SecAggPort | None) -> SecAggPort:
    """`port`, or the ledger when it serves the secagg port too; raises `RoleError` if neither."""
    if port is not None:
        return port
    if isinstance(ledger, SecAggPort):
        return ledger
    raise RoleError("privacy mode secagg needs the SecAggCoordinator contract")


def roster_entries(
    port: SecAggPort, study: StudyId, round_: int, members: tuple[Address, ...]
) -> list[RosterEntry]:
    """The keys that bind `round_` for `members`, as the masking and the recovery need them."""
    entries = []
    for member in members:
        keys = port.secagg_keys_at(study, member, round_)
        entries.append(RosterEntry(member, keys.mask_key, keys.seal_key))
    return entries


def _latest_entries(
    port: SecAggPort, study: StudyId, members: tuple[Address, ...]
) -> list[RosterEntry]:
    """The latest registered keys of `members`: a new deal is sealed to these."""
    entries = []
    for member in members:
        keys = port.secagg_keys(study, member)
        entries.append(RosterEntry(member, keys.mask_key, keys.seal_key))
    return entries


@dataclass(frozen=True, slots=True)
class _Keys:
    mask: X25519PrivateKey
    seal: X25519PrivateKey


class SecAggHospital:
    """One hospital's secagg keys, deal, masked updates and reveals for one study."""

    def __init__(
        self,
        *,
        study: StudyId,
        ledger: LedgerPort,
        port: SecAggPort,
        store: ArtifactStorePort,
        state_dir: Path,
        plan: StudyPlan,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.study = study
        self._ledger = ledger
        self._port = port
        self._store = store
        self._path = Path(state_dir) / _KEY_FILE
        self._spec = plan.privacy
        self._pairs: list[_Keys] | None = None
        self._dealt = False
        self._revealed: set[int] = set()
        self._wait_s = plan.round_timeout_s
        """How long to wait for the last hospitals' keys once t are registered."""
        self._clock = clock
        self._t_registered_at: float | None = None

    @property
    def hospital(self) -> Address:
        """This hospital's address."""
        return self._ledger.sender

    def _local_pairs(self) -> list[_Keys]:
        """Every epoch's key pairs in the state directory, oldest first; one is created (0600)
        on first use. The file of a single pair (before the key history) reads as one epoch."""
        if self._pairs is None:
            self._pairs = []
            if self._path.exists():
                body = json.loads(self._path.read_text(encoding="utf-8"))
                for entry in body.get("epochs", [body]):
                    self._pairs.append(
                        _Keys(
                            load_private_key(bytes.fromhex(entry["mask"])),
                            load_private_key(bytes.fromhex(entry["seal"])),
                        )
                    )
            if not self._pairs:
                self._new_pair()
        return self._pairs

    def _new_pair(self) -> _Keys:
        """A fresh key pair for a new epoch, saved (0600) beside the earlier ones."""
        pairs = self._pairs if self._pairs is not None else self._local_pairs()
        keys = _Keys(X25519PrivateKey.generate(), X25519PrivateKey.generate())
        pairs.append(keys)
        body = {
            "epochs": [
                {"mask": private_key_bytes(k.mask).hex(), "seal": private_key_bytes(k.seal).hex()}
                for k in pairs
            ]
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        write_private_file(self._path, json.dumps(body).encode())
        return keys

    def _local_keys(self) -> _Keys:
        """The newest local key pair (the one to register and deal)."""
        return self._local_pairs()[-1]

    def _keys_for(self, round_: int) -> _Keys:
        """The local pair of the epoch that binds `round_` on chain."""
        on_chain = self._port.secagg_keys_at(self.study, self.hospital, round_)
        for keys in self._local_pairs():
            if public_key_bytes(keys.mask) == bytes(on_chain.mask_key):
                return keys
        raise RoleError(f"round {round_}'s secagg keys are not in this state directory")

    def take_part(self, usages: Mapping[int, RoundUsage]) -> bool:
        """One step of this hospital's secagg duties: set up its keys (False while it cannot
        take part), then reveal for the last round it submitted to (`usages`) if due."""
        if (waiting := self.set_up()) is not None:
            logger.debug("secagg: %s", waiting)
            return False
        submitted = [r for r, u in usages.items() if u.submitted_block is not None]
        if submitted:
            self.reveal_if_due(max(submitted))
        return True

    def set_up(self) -> str | None:
        """Register and deal this hospital's keys as far as the chain allows; None once its
        mask key is dealt, else why it cannot take part (yet)."""
        if self._dealt and self._port.secagg_keys(self.study, self.hospital).burned_block == 0:
            return None
        self._dealt = False
        threshold = self._port.secagg_threshold(self.study)
        if threshold == 0:
            return "waiting for the aggregator to configure secure aggregation"
        if threshold != self._spec.threshold:
            raise RoleError(
                f"the chain's secagg threshold {threshold} is not the plan's {self._spec.threshold}"
            )
        keys = self._local_keys()
        mask_pub, seal_pub = public_key_bytes(keys.mask), public_key_bytes(keys.seal)
        on_chain = self._port.secagg_keys(self.study, self.hospital)
        burned = on_chain.burned_block != 0
        if burned and on_chain.mask_key == mask_pub:
            keys = self._new_pair()  # the mask key was revealed when it dropped out: rotate
            mask_pub, seal_pub = public_key_bytes(keys.mask), public_key_bytes(keys.seal)
            logger.info("secagg: the burned key epoch %d is replaced", on_chain.epoch)
        if (on_chain.mask_key, on_chain.seal_key) != (mask_pub, seal_pub):
            if on_chain.dealt_block != 0 and not burned:
                raise RoleError("the chain holds dealt secagg keys this state directory lacks")
            self._port.secagg_register_keys(self.study, mask_pub, seal_pub)
            return "keys registered; the mask key is dealt on a later step"
        if on_chain.dealt_block == 0 and not self._deal(keys, on_chain.epoch, threshold):
            return "waiting for every member hospital to register its secagg keys"
        self._dealt = True
        return None

    def _deal(self, keys: _Keys, epoch: int, threshold: int) -> bool:
        members = self._ledger.study(self.study).hospitals
        everyone = _latest_entries(self._port, self.study, tuple(sorted(members)))
        roster = [entry for entry in everyone if bytes(entry.seal_key) != _ZERO]
        if len(roster) < len(everyone):
            if len(roster) < threshold:
                return False
            if self._t_registered_at is None:
                self._t_registered_at = self._clock()
            if self._clock() - self._t_registered_at < self._wait_s:
                return False
        dealt = deal_mask_key(
            StudyContext(self.study, epoch),
            owner=self.hospital,
            mask_key=keys.mask,
            roster=roster,
            threshold=threshold,
        )
        data = encode_key_deal(dealt)
        self._port.secagg_deal_key(self.study, Bytes32(sha256(data)), self._store.put(data))
        logger.info("dealt the secagg mask key %d-of-%d", threshold, len(roster))
        return True

    def masked_update(self, round_: int, delta: Mapping[str, Tensor], weight: int) -> bytes:
        """The stored bytes of this hospital's masked update of `delta` for `round_`."""
        members = self._port.secagg_roster(self.study, round_)
        if self.hospital not in members:
            raise NotOnRosterError(f"{self.hospital} is not on round {round_}'s secagg roster")
        if len(members) < self._spec.threshold:
            raise NotOnRosterError(
                f"round {round_}'s secagg roster has {len(members)} hospital(s), below the "
                f"threshold {self._spec.threshold}: it will abort"
            )
        vector = flatten({k: v.detach().cpu().numpy().astype(np.float32) for k, v in delta.items()})
        masked = submit(
            RoundContext(self.study, round_),
            owner=self.hospital,
            mask_key=self._keys_for(round_).mask,
            roster=roster_entries(self._port, self.study, round_, members),
            threshold=self._spec.threshold,
            encoded=quantize(vector, weight, self._spec.ring),
            weight=weight,
        )
        return encode_masked_update(masked)

    def reveal_if_due(self, round_: int) -> int | None:
        """Publish this hospital's reveal for `round_` if submissions closed, the round is
        neither aborted nor finalized, this hospital is a survivor and has not revealed yet;
        returns the block or None."""
        if round_ in self._revealed:
            return None
        phase = self._port.secagg_phase(self.study, round_)
        if not phase.closed:
            return None
        record = self._ledger.round(self.study, round_)
        survivors = record.updates[: phase.submitted_at_close]
        done = any(
            r.hospital == self.hospital for r in self._port.secagg_reveals(self.study, round_)
        )
        if (
            phase.aborted
            or record.state != RoundState.OPEN
            or done
            or all(u.hospital != self.hospital for u in survivors)
        ):
            self._revealed.add(round_)
            return None
        context = RoundContext(self.study, round_)
        updates = [
            self._opened(context, u.update_cid, u.update_hash, u.hospital) for u in survivors
        ]
        alive = {u.hospital for u in survivors}
        dropped = [m for m in self._port.secagg_roster(self.study, round_) if m not in alive]
        published = reveal(
            context,
            holder=self.hospital,
            seal_key=self._keys_for(round_).seal,
            survivors=[u for u in updates if u is not None],
            dropped=[],
        )
        deals = (self._dropped_deal(round_, m) for m in dropped)
        opened = (self._open_dealt(d) for d in deals if d is not None)
        published = replace(
            published, shares=published.shares + tuple(s for s in opened if s is not None)
        )
        data = encode_reveal(published)
        block = self._port.secagg_reveal(
            self.study, round_, Bytes32(sha256(data)), self._store.put(data)
        )
        self._revealed.add(round_)
        logger.info("round %d: revealed %d share(s)", round_, len(published.shares))
        return block

    def _opened(
        self, context: RoundContext, cid: str, digest: bytes, sender: Address
    ) -> MaskedUpdate | None:
        """A survivor's masked update whose self-seed share for this hospital opens and matches
        its commitment; None (logged) otherwise: that survivor's sum then cannot be recovered,
        and the audit names it."""
        try:
            update = decode_masked_update(fetch_verified(self._store, cid, digest), hospital=sender)
            open_share(context, update.self_deal, self.hospital, self._keys_for(context.round).seal)
        except (SecAggError, RoleError, KeyError) as exc:
            logger.warning("round %d: no share revealed for %s: %s", context.round, sender, exc)
            return None
        return update

    def _open_dealt(self, dealt: KeyDeal) -> Share | None:
        """This hospital's share of a dropped hospital's mask key. The deal was sealed to the
        seal key this hospital had registered when it was dealt, which may be an older epoch
        than the round's: every local epoch is tried, newest first."""
        for keys in reversed(self._local_pairs()):
            try:
                return open_share(dealt.context, dealt.deal, self.hospital, keys.seal)
            except SealingError:
                continue
            except SecAggError as exc:
                logger.warning("no share of %s's mask key revealed: %s", dealt.deal.owner, exc)
                return None
        logger.warning("no local seal key opens %s's mask-key share", dealt.deal.owner)
        return None

    def _dropped_deal(self, round_: int, owner: Address) -> KeyDeal | None:
        keys = self._port.secagg_keys_at(self.study, owner, round_)
        try:
            dealt = decode_key_deal(fetch_verified(self._store, keys.deal_cid, keys.deal_hash))
            dealt.deal.holder(self.hospital)
        except (FormatError, RoleError, KeyError) as exc:
            logger.warning("no share of %s's mask key revealed: %s", owner, exc)
            return None
        return dealt

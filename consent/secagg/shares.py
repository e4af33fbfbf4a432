"""t-of-n Shamir sharing of a hospital's 32-byte secrets, sealed to its peers, with commitments.

Shamir's scheme itself is pycryptodome's (`Crypto.Protocol.SecretSharing.Shamir`, GF(2**128)),
which shares 16-byte secrets only. Written here by hand, because no maintained library offers
them for this setting:

- chunking: a 32-byte secret is two independent 16-byte sharings with the same holder indices;
- commitments: the dealer publishes SHA-256 of the secret and of every share (domain-separated,
  bound to the round, the owner and the holder). Anyone can then check a revealed share against
  the dealer's commitment, naming a holder who reveals a forged share (`ForgedShareError`), and
  check the rebuilt secret, naming a dealer who dealt shares of something else
  (`ReconstructionError`). pycryptodome's `combine` returns garbage, not an error, when given
  fewer than t shares; the secret commitment turns that into `TooFewSharesError`'s sibling
  `ReconstructionError`, and counting valid shares first gives `TooFewSharesError` itself.

Every share travels sealed to its holder's X25519 encryption key (`consent.sealing`); only at
the reveal does a holder publish a share, and only the kind the protocol asks for.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from Crypto.Protocol.SecretSharing import Shamir
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from consent.ids import Address, parse_address
from consent.sealing import open_sealed, seal
from consent.secagg.errors import (
    ForgedShareError,
    ReconstructionError,
    SecAggParamsError,
    TooFewSharesError,
)
from consent.secagg.prg import RoundContext, StudyContext

Context = RoundContext | StudyContext

__all__ = [
    "SECRET_LEN",
    "Context",
    "Deal",
    "DealtShare",
    "Share",
    "combine_unchecked",
    "deal",
    "new_secret",
    "open_share",
    "reconstruct",
    "share_commitment",
]

SECRET_LEN: Final = 32
_CHUNK: Final = 16
_SHARE_LEN: Final = SECRET_LEN  # two 16-byte chunk shares
_SECRET_TAG: Final = b"consentfl/secagg/secret-commitment/v1"
_SHARE_TAG: Final = b"consentfl/secagg/share-commitment/v1"


@dataclass(frozen=True, slots=True)
class Share:
    """One holder's share of one owner's secret (`kind` says which secret: "self" or "mask")."""

    kind: str
    owner: Address
    holder: Address
    index: int
    value: bytes

    def to_json_dict(self) -> dict[str, Any]:
        """Hex strings and ints, for the reveal document."""
        return {
            "kind": self.kind,
            "owner": self.owner,
            "holder": self.holder,
            "index": self.index,
            "value": self.value.hex(),
        }

    @classmethod
    def from_json_dict(cls, body: Mapping[str, Any]) -> Share:
        """Inverse of `to_json_dict`; raises `KeyError` / `ValueError` / `TypeError`."""
        value = bytes.fromhex(str(body["value"]))
        if len(value) != _SHARE_LEN:
            raise ValueError(f"a share is {_SHARE_LEN} bytes, got {len(value)}")
        return cls(
            str(body["kind"]),
            parse_address(str(body["owner"])),
            parse_address(str(body["holder"])),
            int(body["index"]),
            value,
        )


@dataclass(frozen=True, slots=True)
class DealtShare:
    """What the dealer publishes for one holder: the share sealed to it and a commitment."""

    holder: Address
    index: int
    commitment: bytes
    sealed: bytes


@dataclass(frozen=True, slots=True)
class Deal:
    """A dealer's public record of one sharing: threshold, secret commitment, sealed shares."""

    kind: str
    owner: Address
    threshold: int
    secret_commitment: bytes
    shares: tuple[DealtShare, ...]

    def holder(self, holder: Address) -> DealtShare:
        """The entry dealt to `holder`; raises `KeyError`."""
        for entry in self.shares:
            if entry.holder == holder:
                return entry
        raise KeyError(holder)

    def to_json_dict(self) -> dict[str, Any]:
        """Hex strings and ints, for the documents that carry a deal."""
        return {
            "kind": self.kind,
            "owner": self.owner,
            "threshold": self.threshold,
            "secret_commitment": self.secret_commitment.hex(),
            "shares": [
                {
                    "holder": entry.holder,
                    "index": entry.index,
                    "commitment": entry.commitment.hex(),
                    "sealed": entry.sealed.hex(),
                }
                for entry in self.shares
            ],
        }

    @classmethod
    def from_json_dict(cls, body: Mapping[str, Any]) -> Deal:
        """Inverse of `to_json_dict`; raises `KeyError` / `ValueError` / `TypeError`."""
        return cls(
            str(body["kind"]),
            parse_address(str(body["owner"])),
            int(body["threshold"]),
            bytes.fromhex(str(body["secret_commitment"])),
            tuple(
                DealtShare(
                    parse_address(str(entry["holder"])),
                    int(entry["index"]),
                    bytes.fromhex(str(entry["commitment"])),
                    bytes.fromhex(str(entry["sealed"])),
                )
                for entry in body["shares"]
            ),
        )


def new_secret() -> bytes:
    """A fresh 32-byte secret from the OS's CSPRNG."""
    return os.urandom(SECRET_LEN)


def _secret_commitment(context: Context, kind: str, owner: Address, secret: bytes) -> bytes:
    return hashlib.sha256(
        _SECRET_TAG + context.tag() + kind.encode() + owner.encode() + secret
    ).digest()


def share_commitment(context: Context, share: Share) -> bytes:
    """The dealer's public commitment to one share."""
    body = share.kind.encode() + share.owner.encode() + share.holder.encode()
    return hashlib.sha256(
        _SHARE_TAG + context.tag() + body + share.index.to_bytes(2, "big") + share.value
    ).digest()


def deal(
    context: Context,
    *,
    kind: str,
    owner: Address,
    secret: bytes,
    holders: Mapping[Address, bytes],
    threshold: int,
) -> Deal:
    """Share `secret` t-of-n among `holders` (address -> X25519 encryption public key)."""
    if len(secret) != SECRET_LEN:
        raise SecAggParamsError(f"a shared secret is {SECRET_LEN} bytes, got {len(secret)}")
    order = sorted(holders)
    if not 2 <= threshold <= len(order):
        raise SecAggParamsError(f"threshold {threshold} needs 2..{len(order)} holders")
    if len(order) >= 2**16:
        raise SecAggParamsError("at most 65535 holders")
    chunks = [
        Shamir.split(threshold, len(order), secret[i : i + _CHUNK], ssss=False)
        for i in range(0, SECRET_LEN, _CHUNK)
    ]
    dealt = []
    for position, holder in enumerate(order):
        index = chunks[0][position][0]
        value = b"".join(chunk[position][1] for chunk in chunks)
        share = Share(kind, owner, holder, index, value)
        dealt.append(
            DealtShare(
                holder, index, share_commitment(context, share), seal(value, holders[holder])
            )
        )
    return Deal(
        kind, owner, threshold, _secret_commitment(context, kind, owner, secret), tuple(dealt)
    )


def open_share(context: Context, dealt: Deal, holder: Address, key: X25519PrivateKey) -> Share:
    """`holder`'s share of `dealt`, opened and checked against the dealer's commitment."""
    entry = dealt.holder(holder)
    share = Share(dealt.kind, dealt.owner, holder, entry.index, open_sealed(entry.sealed, key))
    if share_commitment(context, share) != entry.commitment:
        raise ReconstructionError(
            dealt.owner, f"the share sealed to {holder} is not the one committed"
        )
    return share


def reconstruct(context: Context, dealt: Deal, shares: Sequence[Share]) -> bytes:
    """The dealer's secret from revealed shares: each checked against its commitment, then
    combined and checked against the secret commitment."""
    valid: dict[int, Share] = {}
    for share in shares:
        if share.owner != dealt.owner or share.kind != dealt.kind:
            raise SecAggParamsError(
                f"a share of {share.owner}/{share.kind} given for {dealt.owner}"
            )
        try:
            entry = dealt.holder(share.holder)
        except KeyError as exc:
            raise ForgedShareError(dealt.owner, share.holder) from exc
        if entry.index != share.index or share_commitment(context, share) != entry.commitment:
            raise ForgedShareError(dealt.owner, share.holder)
        valid[share.index] = share
    if len(valid) < dealt.threshold:
        raise TooFewSharesError(dealt.owner, len(valid), dealt.threshold)
    chosen = sorted(valid.values(), key=lambda s: s.index)[: dealt.threshold]
    secret = b"".join(
        Shamir.combine([(s.index, s.value[i : i + _CHUNK]) for s in chosen], ssss=False)
        for i in range(0, SECRET_LEN, _CHUNK)
    )
    if _secret_commitment(context, dealt.kind, dealt.owner, secret) != dealt.secret_commitment:
        raise ReconstructionError(
            dealt.owner, "the shares combine to a secret it never committed to"
        )
    return secret


def combine_unchecked(shares: Sequence[Share]) -> bytes:
    """Combine without any commitment check (what pycryptodome alone gives): for tests showing
    that t-1 shares yield a wrong secret."""
    return b"".join(
        Shamir.combine([(s.index, s.value[i : i + _CHUNK]) for s in shares], ssss=False)
        for i in range(0, SECRET_LEN, _CHUNK)
    )

"""The masked update: what a hospital stores (and hashes on chain) in privacy mode "secagg".

Binary, so a 1M-parameter update is 8 MB of ring elements, not 20 MB of JSON::

    magic b"CFMU" | header length (4, BE) | header (canonical JSON) | vector (8 * length, LE)

Header, version 1::

    {"format": "consentfl.masked-update/1", "study": "0x..", "round": 3, "hospital": "0x..",
     "weight": 120, "length": 10000, "self_deal": {...}, "extensions": {}}

`self_deal` is `consent.secagg.shares.Deal.to_json_dict()`: the commitments to the self seed and
its shares, each share sealed to its holder. A reader refuses bytes whose header and vector
disagree (`MalformedMaskedUpdateError`), and other formats (`UnknownFormatError`).
"""

from __future__ import annotations

import json
from typing import Final

import numpy as np

from consent.formats._document import Family, canonical_json
from consent.ids import Address, StudyId, parse_address
from consent.secagg.errors import MalformedMaskedUpdateError
from consent.secagg.prg import RoundContext
from consent.secagg.protocol import MaskedUpdate
from consent.secagg.shares import Deal

__all__ = ["MASKED_UPDATE", "decode_masked_update", "encode_masked_update"]

MASKED_UPDATE: Final = Family("consentfl.masked-update", (1,))
_MAGIC: Final = b"CFMU"
_LEN_BYTES: Final = 4


def encode_masked_update(update: MaskedUpdate) -> bytes:
    """The stored bytes of `update`."""
    header = canonical_json(
        {
            "format": MASKED_UPDATE.latest,
            "study": "0x" + bytes(update.context.study).hex(),
            "round": update.context.round,
            "hospital": update.hospital,
            "weight": update.weight,
            "length": int(update.vector.shape[0]),
            "self_deal": update.self_deal.to_json_dict(),
            "extensions": {},
        }
    )
    vector = update.vector.astype("<u8", copy=False).tobytes()
    return _MAGIC + len(header).to_bytes(_LEN_BYTES, "big") + header + vector


def decode_masked_update(data: bytes, *, hospital: Address | None = None) -> MaskedUpdate:
    """Parse `encode_masked_update` output; `hospital` (who the chain says sent it) must match."""
    start = len(_MAGIC) + _LEN_BYTES
    if len(data) < start or data[: len(_MAGIC)] != _MAGIC:
        raise MalformedMaskedUpdateError("not a masked update (magic)", hospital=hospital)
    end = start + int.from_bytes(data[len(_MAGIC) : start], "big")
    try:
        body = json.loads(data[start:end])
        MASKED_UPDATE.parse(body)
        sender = parse_address(str(body["hospital"]))
        length = int(body["length"])
        context = RoundContext(StudyId(bytes.fromhex(str(body["study"])[2:])), int(body["round"]))
        self_deal = Deal.from_json_dict(body["self_deal"])
        weight = int(body["weight"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedMaskedUpdateError(f"bad header: {exc}", hospital=hospital) from exc
    if hospital is not None and sender != hospital:
        raise MalformedMaskedUpdateError(f"its header names {sender}", hospital=hospital)
    if len(data) - end != 8 * length:
        raise MalformedMaskedUpdateError(
            f"{len(data) - end} vector bytes for {length} elements", hospital=sender
        )
    vector = np.frombuffer(data, dtype="<u8", offset=end, count=length).astype(np.uint64)
    return MaskedUpdate(context, sender, weight, vector, self_deal)

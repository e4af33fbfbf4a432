"""The key deal: a hospital's mask private key, shared t-of-n among its peers at registration.

Canonical JSON, version 1::

    {"format": "consentfl.secagg-key-deal/1", "study": "0x..", "epoch": 0,
     "deal": {...},                              # consent.secagg.shares.Deal.to_json_dict()
     "extensions": {}}

Stored by CID with its SHA-256 on chain beside the hospital's registered keys.
"""

from __future__ import annotations

import json
from typing import Final

from consent.formats._document import Family, FormatError, canonical_json, extensions_of
from consent.ids import StudyId
from consent.secagg.prg import StudyContext
from consent.secagg.protocol import KeyDeal
from consent.secagg.shares import Deal

__all__ = ["KEY_DEAL", "decode_key_deal", "encode_key_deal"]

KEY_DEAL: Final = Family("consentfl.secagg-key-deal", (1,))


def encode_key_deal(key_deal: KeyDeal) -> bytes:
    """The stored bytes of `key_deal`."""
    return canonical_json(
        {
            "format": KEY_DEAL.latest,
            "study": "0x" + bytes(key_deal.context.study).hex(),
            "epoch": key_deal.context.epoch,
            "deal": key_deal.deal.to_json_dict(),
            "extensions": {},
        }
    )


def decode_key_deal(data: bytes) -> KeyDeal:
    """Parse `encode_key_deal` output; raises `UnknownFormatError` / `FormatError`."""
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise FormatError(f"a key deal is not JSON: {exc}") from exc
    KEY_DEAL.parse(body)
    try:
        extensions_of(body)
        context = StudyContext(StudyId(bytes.fromhex(str(body["study"])[2:])), int(body["epoch"]))
        return KeyDeal(context, Deal.from_json_dict(body["deal"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"malformed {KEY_DEAL.latest} document: {exc!r}") from exc

"""The reveal: the shares a survivor publishes after a secagg round's submissions close.

Canonical JSON, version 1::

    {"format": "consentfl.secagg-reveal/1", "study": "0x..", "round": 3, "holder": "0x..",
     "shares": [{"kind": "self"|"mask", "owner": "0x..", "holder": "0x..", "index": 2,
                 "value": "<64 hex>"}, ...],
     "extensions": {}}

Stored by CID with its SHA-256 on chain (`SecAggCoordinator.reveal`).
"""

from __future__ import annotations

import json
from typing import Final

from consent.formats._document import Family, FormatError, canonical_json, extensions_of
from consent.ids import StudyId, parse_address
from consent.secagg.prg import RoundContext
from consent.secagg.protocol import Reveal
from consent.secagg.shares import Share

__all__ = ["REVEAL", "decode_reveal", "encode_reveal"]

REVEAL: Final = Family("consentfl.secagg-reveal", (1,))


def encode_reveal(reveal: Reveal) -> bytes:
    """The stored bytes of `reveal`."""
    return canonical_json(
        {
            "format": REVEAL.latest,
            "study": "0x" + bytes(reveal.context.study).hex(),
            "round": reveal.context.round,
            "holder": reveal.holder,
            "shares": [share.to_json_dict() for share in reveal.shares],
            "extensions": {},
        }
    )


def decode_reveal(data: bytes) -> Reveal:
    """Parse `encode_reveal` output; raises `UnknownFormatError` / `FormatError`."""
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise FormatError(f"a reveal is not JSON: {exc}") from exc
    REVEAL.parse(body)
    try:
        extensions_of(body)
        context = RoundContext(StudyId(bytes.fromhex(str(body["study"])[2:])), int(body["round"]))
        shares = tuple(Share.from_json_dict(entry) for entry in body["shares"])
        return Reveal(context, parse_address(str(body["holder"])), shares)
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"malformed {REVEAL.latest} document: {exc!r}") from exc

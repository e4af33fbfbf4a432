"""Update codecs: how a hospital's serialized update is encoded for the store, per study.

The study plan names the codec (`StudyPlan.codec`); the trainer encodes with it and the aggregator
decodes with it. The bytes a codec receives are the safetensors file with its update envelope
(`consent.formats.update_envelope`); what it returns is what gets stored and hashed on chain.
Today's only codec is "sealed" (X25519 + HKDF-SHA256 + AES-256-GCM to the aggregator's key,
`consent.sealing`; with the study plan's auditor keys, one ciphertext sealed to the aggregator
and every auditor, `consent.multi_seal`, so the audit can open every update and recompute every
aggregate). Privacy mode "secagg" does not go through a codec: a masked update depends on the
round's roster and the hospital's keys, and its reveal phase on the chain
(`fl.roles.secagg_hospital`). Codec options come from the study plan (`make_codec(name,
**options)`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from consent.multi_seal import MAGIC as MULTI_MAGIC
from consent.multi_seal import open_multi, seal_multi
from consent.records import StudyRecord
from consent.sealing import load_public_key, open_sealed, seal
from fl.errors import FlError, UnknownPluginError

__all__ = ["CODECS", "CodecOptionsError", "SealedCodec", "UpdateCodec", "make_codec"]


class CodecOptionsError(FlError, ValueError):
    """A study plan gives a codec options it does not take (e.g. auditor keys)."""


class UpdateCodec(ABC):
    """Encodes a hospital's update for the study and decodes it on the aggregator."""

    name: ClassVar[str]
    """The registry name, used in the study plan."""

    @abstractmethod
    def encode(self, payload: bytes, study: StudyRecord) -> bytes:
        """The bytes to store for `payload` (the serialized update with its envelope)."""

    @abstractmethod
    def decode(self, data: bytes, key: X25519PrivateKey) -> bytes:
        """`payload` back from stored `data`; raises (a `ConsentError`) if it does not open."""


class SealedCodec(UpdateCodec):
    """Sealed to the aggregator's X25519 public key (the study's `aggregator_seal_key`) and, when
    the study plan lists auditor keys, to each of them as well (one ciphertext, `multi_seal`)."""

    name: ClassVar[str] = "sealed"

    def __init__(self, *, auditor_keys: Sequence[bytes] = ()) -> None:
        self.auditor_keys = tuple(bytes(k) for k in auditor_keys)
        for key in self.auditor_keys:
            load_public_key(key)  # InvalidSealingKeyError for anything but 32 raw bytes

    def encode(self, payload: bytes, study: StudyRecord) -> bytes:
        if not self.auditor_keys:
            return seal(payload, study.aggregator_seal_key)
        return seal_multi(payload, (bytes(study.aggregator_seal_key), *self.auditor_keys))

    def decode(self, data: bytes, key: X25519PrivateKey) -> bytes:
        """Opens both shapes: sealed to the aggregator alone, or to it and the auditors."""
        if data[: len(MULTI_MAGIC)] == MULTI_MAGIC:
            return open_multi(data, key)
        return open_sealed(data, key)


CODECS: Mapping[str, Callable[..., UpdateCodec]] = MappingProxyType({SealedCodec.name: SealedCodec})
"""Registry name -> codec class. Add new codecs here."""


def make_codec(name: str, **options: object) -> UpdateCodec:
    """The codec registered as `name`, built with `options` (from the study plan); raises
    `UnknownPluginError` for an unknown name, `CodecOptionsError` for options it does not take."""
    try:
        factory = CODECS[name]
    except KeyError as exc:
        raise UnknownPluginError("update codec", name, tuple(CODECS)) from exc
    try:
        return factory(**options)
    except TypeError as exc:
        raise CodecOptionsError(f"codec {name!r} does not take options {sorted(options)}") from exc

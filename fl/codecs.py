"""Update codecs: how a hospital's serialized update is encoded for the store, per study.

The study plan names the codec (`StudyPlan.codec`); the trainer encodes with it and the aggregator
decodes with it. The bytes a codec receives are the safetensors file with its update envelope
(`consent.formats.update_envelope`); what it returns is what gets stored and hashed on chain.
Today's only codec is "sealed" (X25519 + HKDF-SHA256 + AES-256-GCM to the aggregator's key,
`consent.sealing`); a secure-aggregation codec (masked updates with a reveal phase) registers
here beside it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from consent.records import StudyRecord
from consent.sealing import open_sealed, seal
from fl.errors import UnknownPluginError

__all__ = ["CODECS", "SealedCodec", "UpdateCodec", "make_codec"]


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
    """Sealed to the aggregator's X25519 public key (the study's `aggregator_seal_key`)."""

    name: ClassVar[str] = "sealed"

    def encode(self, payload: bytes, study: StudyRecord) -> bytes:
        return seal(payload, study.aggregator_seal_key)

    def decode(self, data: bytes, key: X25519PrivateKey) -> bytes:
        return open_sealed(data, key)


CODECS: Mapping[str, Callable[[], UpdateCodec]] = MappingProxyType({SealedCodec.name: SealedCodec})
"""Registry name -> codec class. Add new codecs here."""


def make_codec(name: str) -> UpdateCodec:
    """The codec registered as `name`; raises `UnknownPluginError`."""
    try:
        return CODECS[name]()
    except KeyError as exc:
        raise UnknownPluginError("update codec", name, tuple(CODECS)) from exc

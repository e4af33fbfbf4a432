"""Patient keys (and hospital / relayer keys): generation and storage on disk.

A patient is an Ethereum address backed by a secp256k1 key generated at enrolment. Three file
formats, all written atomically with mode 0600 and never overwriting unless asked:

* **keystore** (`save_keystore` / `load_keystore`): one key per file in the standard Web3 Secret
  Storage v3 JSON, through eth-account (`Account.encrypt` / `Account.decrypt`). It opens in geth,
  MetaMask and every Ethereum library, so it is the format to hand to a patient. The KDF decides the
  cost, measured on this machine class: scrypt at eth-account's default (n=2^18, 256 MiB) ~1 s per
  save or load; pbkdf2 at its default (1,000,000 iterations) ~0.25 s; pbkdf2 at 10,000 iterations
  ~3 ms. Lower costs make offline password guessing proportionally cheaper: keep the defaults for
  files that leave the hospital and choose `iterations` deliberately otherwise.
* **keyring** (`save_keyring` / `load_keyring`): many keys in one file, for the hospital that enrols
  thousands of patients and must sign each one's consent. Per-patient keystores would cost one KDF
  per patient (10,000 patients: ~3 h at scrypt's default, ~40 min at pbkdf2's); the keyring costs
  one scrypt derivation at the same strength for the whole file (~1 s), then AES-256-GCM. No
  maintained library offers a bulk Ethereum keystore, so this format is ours; it only composes
  `cryptography`'s Scrypt and AESGCM, and authenticates its header as associated data.
* **hex key file** (`save_hex_key` / `load_hex_key`): a plain `0x`-prefixed private key, the
  `--key FILE` of the CLI for hospital, aggregator and relayer accounts on dev and test chains.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from eth_account import Account

from consent.errors import KeystoreError
from consent.ids import Address
from consent.private_file import write_private_file

__all__ = [
    "PatientKey",
    "generate",
    "load_hex_key",
    "load_keyring",
    "load_keystore",
    "save_hex_key",
    "save_keyring",
    "save_keystore",
]

logger = logging.getLogger(__name__)

KEYRING_FORMAT: Final = "consentfl-keyring"
KEYRING_VERSION: Final = 1
_KEY_SIZE: Final = 32
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass(frozen=True, slots=True)
class PatientKey:
    """An Ethereum account key: a patient's, or a hospital's, aggregator's or relayer's.

    The private key never appears in `repr`; build one with `generate()` or `from_private_key`.
    """

    address: Address
    private_key: bytes = field(repr=False)

    @classmethod
    def from_private_key(cls, private_key: bytes | str) -> PatientKey:
        """The key for 32 raw bytes or a 64-digit hex string (0x optional); derives the address."""
        if isinstance(private_key, str):
            if not _HEX_KEY.match(private_key):
                raise ValueError("a private key is 64 hex digits")
            private_key = bytes.fromhex(private_key.removeprefix("0x"))
        if len(private_key) != _KEY_SIZE:
            raise ValueError(f"a private key is {_KEY_SIZE} bytes")
        try:
            account = Account.from_key(private_key)
        except ValueError as exc:  # eth-account's message is misleading for an out-of-range key
            raise ValueError("not a valid secp256k1 private key") from exc
        return cls(Address(account.address), bytes(private_key))

    @property
    def private_key_hex(self) -> str:
        """The private key as 0x-prefixed hex (for signing libraries that want text)."""
        return "0x" + self.private_key.hex()


def generate() -> PatientKey:
    """A fresh key from the OS CSPRNG (through eth-account, which also checks the curve range)."""
    account = Account.create()
    return PatientKey(Address(account.address), bytes(account.key))


# --- files --------------------------------------------------------------------------------------


def _read_private(path: Path) -> bytes:
    path = Path(path)
    data = path.read_bytes()
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        logger.warning("key file %s is readable by group or others; it should be mode 0600", path)
    return data


# --- standard keystore ------------------------------------------------------------------------


def save_keystore(
    key: PatientKey,
    path: Path,
    password: str,
    *,
    kdf: Literal["scrypt", "pbkdf2"] = "scrypt",
    iterations: int | None = None,
    overwrite: bool = False,
) -> None:
    """Write `key` as a Web3 Secret Storage v3 file (see the module notes on KDF cost).

    `iterations` is pbkdf2's round count or scrypt's `n` (a power of two); None keeps
    eth-account's defaults.
    """
    keystore = Account.encrypt(key.private_key, password, kdf=kdf, iterations=iterations)
    write_private_file(Path(path), json.dumps(keystore).encode(), overwrite=overwrite)


def load_keystore(path: Path, password: str) -> PatientKey:
    """Decrypt a v3 keystore; raises `KeystoreError` for a wrong password or a corrupt file."""
    path = Path(path)
    try:
        keystore = json.loads(_read_private(path))
        private_key = Account.decrypt(keystore, password)
    except (ValueError, KeyError, TypeError) as exc:
        raise KeystoreError(path, "wrong password or not a valid keystore") from exc
    key = PatientKey.from_private_key(bytes(private_key))
    recorded = keystore.get("address") if isinstance(keystore, dict) else None
    if recorded and recorded.lower().removeprefix("0x") != key.address.lower()[2:]:
        raise KeystoreError(path, "the recorded address does not match the key")
    return key


# --- bulk keyring -------------------------------------------------------------------------------


def _keyring_cipher(password: bytes, kdfparams: dict[str, Any]) -> AESGCM:
    derived = Scrypt(
        salt=bytes.fromhex(kdfparams["salt"]),
        length=32,
        n=kdfparams["n"],
        r=kdfparams["r"],
        p=kdfparams["p"],
    ).derive(password)
    return AESGCM(derived)


def _associated_data(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def save_keyring(
    keys: Sequence[PatientKey],
    path: Path,
    password: str,
    *,
    scrypt_n: int = 2**18,
    overwrite: bool = False,
) -> None:
    """Write many keys into one encrypted file: one scrypt derivation, then AES-256-GCM."""
    header: dict[str, Any] = {
        "format": KEYRING_FORMAT,
        "version": KEYRING_VERSION,
        "kdf": "scrypt",
        "kdfparams": {"n": scrypt_n, "r": 8, "p": 1, "salt": secrets.token_hex(16)},
        "cipher": "aes-256-gcm",
        "nonce": secrets.token_hex(12),
        "count": len(keys),
    }
    cipher = _keyring_cipher(password.encode(), header["kdfparams"])
    plaintext = b"".join(k.private_key for k in keys)
    sealed = cipher.encrypt(bytes.fromhex(header["nonce"]), plaintext, _associated_data(header))
    document = {**header, "ciphertext": sealed.hex()}
    write_private_file(Path(path), json.dumps(document).encode(), overwrite=overwrite)


def load_keyring(path: Path, password: str) -> tuple[PatientKey, ...]:
    """Decrypt a keyring; raises `KeystoreError` for a wrong password, tampering or corruption."""
    path = Path(path)
    try:
        document = json.loads(_read_private(path))
        header = {k: v for k, v in document.items() if k != "ciphertext"}
    except (ValueError, AttributeError) as exc:
        raise KeystoreError(path, "not a valid keyring") from exc
    if (header.get("format"), header.get("version")) != (KEYRING_FORMAT, KEYRING_VERSION):
        raise KeystoreError(path, "not a consentfl keyring of a supported version")
    try:
        cipher = _keyring_cipher(password.encode(), header["kdfparams"])
        plaintext = cipher.decrypt(
            bytes.fromhex(header["nonce"]),
            bytes.fromhex(document["ciphertext"]),
            _associated_data(header),
        )
    except InvalidTag as exc:
        raise KeystoreError(path, "wrong password or tampered keyring") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise KeystoreError(path, "not a valid keyring") from exc
    if len(plaintext) != _KEY_SIZE * header["count"]:
        raise KeystoreError(path, "key count does not match the content")
    return tuple(
        PatientKey.from_private_key(plaintext[i : i + _KEY_SIZE])
        for i in range(0, len(plaintext), _KEY_SIZE)
    )


# --- plain hex key file -------------------------------------------------------------------------


def save_hex_key(key: PatientKey, path: Path, *, overwrite: bool = False) -> None:
    """Write the private key as one line of 0x-prefixed hex, mode 0600."""
    write_private_file(Path(path), (key.private_key_hex + "\n").encode(), overwrite=overwrite)


def load_hex_key(path: Path) -> PatientKey:
    """Read a file holding one hex private key (0x optional, surrounding whitespace ignored)."""
    path = Path(path)
    text = _read_private(path).decode("ascii", errors="replace").strip()
    try:
        return PatientKey.from_private_key(text)
    except ValueError as exc:
        raise KeystoreError(path, "not a hex private key file") from exc

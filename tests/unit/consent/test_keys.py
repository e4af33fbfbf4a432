"""Patient keys: generation, standard keystores, bulk keyrings, hex key files."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Literal

import pytest
from eth_account import Account

from consent.errors import ConsentError, KeyFileExistsError, KeystoreError
from consent.keys import (
    PatientKey,
    generate,
    load_hex_key,
    load_keyring,
    load_keystore,
    save_hex_key,
    save_keyring,
    save_keystore,
)

FAST_PBKDF2 = 1_000  # test speed only; production keeps the defaults (see consent.keys)
FAST_SCRYPT_N = 2**10


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_keys_are_distinct_and_address_matches_private_key() -> None:
    keys = [generate() for _ in range(5)]
    assert len({k.private_key for k in keys}) == 5
    for key in keys:
        assert Account.from_key(key.private_key).address == key.address


def test_repr_never_shows_the_private_key() -> None:
    key = generate()
    text = repr(key) + str(key)
    assert key.private_key.hex() not in text
    assert key.address in text


@pytest.mark.parametrize("form", ["bytes", "hex", "0xhex"])
def test_from_private_key_accepts_bytes_and_hex(form: str) -> None:
    key = generate()
    forms: dict[str, bytes | str] = {
        "bytes": key.private_key,
        "hex": key.private_key.hex(),
        "0xhex": key.private_key_hex,
    }
    assert PatientKey.from_private_key(forms[form]) == key


@pytest.mark.parametrize("raw", [b"\x01" * 31, b"\x00" * 32, b"\xff" * 32, "0x1234", "zz" * 32])
def test_from_private_key_rejects_invalid_keys(raw: bytes | str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - several messages, one contract
        PatientKey.from_private_key(raw)


@pytest.mark.parametrize(
    ("kdf", "iterations"), [("pbkdf2", FAST_PBKDF2), ("scrypt", FAST_SCRYPT_N)]
)
def test_keystore_round_trips_with_mode_0600(
    tmp_path: Path, kdf: Literal["scrypt", "pbkdf2"], iterations: int
) -> None:
    key = generate()
    path = tmp_path / "patient.json"
    save_keystore(key, path, "correct horse", kdf=kdf, iterations=iterations)
    assert _mode(path) == 0o600
    assert load_keystore(path, "correct horse") == key
    document = json.loads(path.read_text())
    assert document["version"] == 3
    assert document["crypto"]["kdf"] == kdf
    assert key.private_key.hex() not in path.read_text()
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_keystore_is_readable_by_eth_account_directly(tmp_path: Path) -> None:
    key = generate()
    path = tmp_path / "k.json"
    save_keystore(key, path, "pw", kdf="pbkdf2", iterations=FAST_PBKDF2)
    assert bytes(Account.decrypt(json.loads(path.read_text()), "pw")) == key.private_key


def test_keystore_with_wrong_password_raises_keystore_error(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    save_keystore(generate(), path, "right", kdf="pbkdf2", iterations=FAST_PBKDF2)
    with pytest.raises(KeystoreError) as info:
        load_keystore(path, "wrong")
    assert info.value.path == path
    assert isinstance(info.value, ConsentError)
    assert isinstance(info.value, ValueError)


def test_keystore_with_mismatching_recorded_address_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    save_keystore(generate(), path, "pw", kdf="pbkdf2", iterations=FAST_PBKDF2)
    document = json.loads(path.read_text())
    document["address"] = generate().address[2:].lower()
    path.write_text(json.dumps(document))
    with pytest.raises(KeystoreError):
        load_keystore(path, "pw")


def test_existing_key_file_is_not_overwritten_unless_asked(tmp_path: Path) -> None:
    first, second = generate(), generate()
    path = tmp_path / "k.json"
    save_keystore(first, path, "pw", kdf="pbkdf2", iterations=FAST_PBKDF2)
    with pytest.raises(KeyFileExistsError) as info:
        save_keystore(second, path, "pw", kdf="pbkdf2", iterations=FAST_PBKDF2)
    assert isinstance(info.value, FileExistsError)
    assert load_keystore(path, "pw") == first
    save_keystore(second, path, "pw", kdf="pbkdf2", iterations=FAST_PBKDF2, overwrite=True)
    assert load_keystore(path, "pw") == second
    assert _mode(path) == 0o600
    assert list(tmp_path.iterdir()) == [path]


def test_keyring_round_trips_many_keys_in_order(tmp_path: Path) -> None:
    keys = [generate() for _ in range(50)]
    path = tmp_path / "ring.json"
    save_keyring(keys, path, "pw", scrypt_n=FAST_SCRYPT_N)
    assert _mode(path) == 0o600
    assert load_keyring(path, "pw") == tuple(keys)
    assert all(k.private_key.hex() not in path.read_text() for k in keys)


def test_empty_keyring_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    save_keyring([], path, "pw", scrypt_n=FAST_SCRYPT_N)
    assert load_keyring(path, "pw") == ()


def test_keyring_with_wrong_password_raises_keystore_error(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    save_keyring([generate()], path, "pw", scrypt_n=FAST_SCRYPT_N)
    with pytest.raises(KeystoreError):
        load_keyring(path, "nope")


@pytest.mark.parametrize("field", ["count", "ciphertext", "nonce", "kdfparams"])
def test_tampered_keyring_is_refused(tmp_path: Path, field: str) -> None:
    path = tmp_path / "ring.json"
    save_keyring([generate(), generate()], path, "pw", scrypt_n=FAST_SCRYPT_N)
    document = json.loads(path.read_text())
    if field == "count":
        document["count"] = 1
    elif field == "kdfparams":
        document["kdfparams"]["p"] = 2
    else:
        value = bytearray(bytes.fromhex(document[field]))
        value[0] ^= 1
        document[field] = value.hex()
    path.write_text(json.dumps(document))
    with pytest.raises(KeystoreError):
        load_keyring(path, "pw")


@pytest.mark.parametrize("content", ["not json", "[]", '{"format": "other", "version": 1}'])
def test_non_keyring_file_raises_keystore_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "ring.json"
    path.write_text(content)
    with pytest.raises(KeystoreError):
        load_keyring(path, "pw")


def test_hex_key_file_round_trips_with_mode_0600(tmp_path: Path) -> None:
    key = generate()
    path = tmp_path / "hospital.key"
    save_hex_key(key, path)
    assert _mode(path) == 0o600
    assert path.read_text().strip() == key.private_key_hex
    assert load_hex_key(path) == key


def test_hex_key_file_without_prefix_and_with_whitespace_loads(tmp_path: Path) -> None:
    key = generate()
    path = tmp_path / "relayer.key"
    path.write_text(f"  {key.private_key.hex()}\n\n")
    assert load_hex_key(path) == key


def test_garbage_hex_key_file_raises_keystore_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    path.write_text("0xnothex")
    with pytest.raises(KeystoreError):
        load_hex_key(path)


def test_group_readable_key_file_still_loads_but_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = generate()
    path = tmp_path / "loose.key"
    save_hex_key(key, path)
    path.chmod(0o644)
    with caplog.at_level("WARNING", logger="consent.keys"):
        assert load_hex_key(path) == key
    assert "0600" in caplog.text
    assert key.private_key.hex() not in caplog.text

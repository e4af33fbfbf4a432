"""The relayer key: a hex key file or an encrypted keystore, never echoed in errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.services import RelayerKeyError, load_relayer_key
from consent.keys import generate, save_hex_key, save_keystore


def test_hex_key_file_loads(tmp_path: Path) -> None:
    key = generate()
    save_hex_key(key, tmp_path / "relayer.key")

    assert load_relayer_key(tmp_path / "relayer.key", None).address == key.address


def test_keystore_loads_with_its_password_and_refuses_a_wrong_one(tmp_path: Path) -> None:
    key = generate()
    path = tmp_path / "relayer.json"
    save_keystore(key, path, "correct horse", kdf="pbkdf2", iterations=1_000)

    assert load_relayer_key(path, "correct horse").address == key.address
    with pytest.raises(RelayerKeyError, match="wrong password") as excinfo:
        load_relayer_key(path, "wrong")
    assert key.private_key_hex not in str(excinfo.value)
    with pytest.raises(RelayerKeyError, match="CONSENTFL_RELAYER_KEY_PASSWORD"):
        load_relayer_key(path, None)


def test_garbage_key_file_is_refused_without_echoing_its_content(tmp_path: Path) -> None:
    path = tmp_path / "relayer.key"
    path.write_text("0xnot-a-key-secret-material\n")

    with pytest.raises(RelayerKeyError) as excinfo:
        load_relayer_key(path, None)
    assert "secret-material" not in str(excinfo.value)

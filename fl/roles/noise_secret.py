"""A hospital's DP noise secret: 32 random bytes in its trainer's state directory (0600), from
which each round's DP-SGD noise seed is derived (`fl.determinism.noise_seed`).

The trainer creates it on first use (never overwriting one that exists: a second secret would
make earlier rounds unreplayable) and reads it for every dp round. The hospital discloses a
round's seed (`round_noise_seed`, printed by `consentfl trainer noise-seed`) to the auditor with
the round's rows, never the secret and never to the aggregator: the seed lets its holder remove
that round's noise from the hospital's update (see `fl.determinism`).
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import Final

from consent.errors import KeyFileExistsError
from consent.ids import Address, StudyId
from consent.private_file import write_private_file
from fl.determinism import NOISE_SECRET_BYTES, noise_seed
from fl.roles.errors import RoleError

__all__ = ["NOISE_SECRET_FILE", "load_noise_secret", "round_noise_seed"]

NOISE_SECRET_FILE: Final = "dp-noise-secret"  # noqa: S105 (a file name, not a secret)


def load_noise_secret(state_dir: Path, *, create: bool = True) -> bytes:
    """The state directory's noise secret, created (0600) if absent and `create`; raises
    `RoleError` if it is missing (without `create`) or not `NOISE_SECRET_BYTES` long."""
    path = Path(state_dir) / NOISE_SECRET_FILE
    if not path.exists():
        if not create:
            raise RoleError(f"no DP noise secret in {state_dir}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(KeyFileExistsError):  # another process won: use its secret
            write_private_file(path, secrets.token_bytes(NOISE_SECRET_BYTES), overwrite=False)
    secret = path.read_bytes()
    if len(secret) != NOISE_SECRET_BYTES:
        raise RoleError(f"{path} is not a {NOISE_SECRET_BYTES}-byte noise secret")
    return secret


def round_noise_seed(
    state_dir: Path, study: StudyId, round_: int, hospital: Address, *, create: bool = True
) -> int:
    """`hospital`'s DP noise seed for `round_` of `study`, from its state directory's secret."""
    return noise_seed(load_noise_secret(state_dir, create=create), study, round_, hospital)

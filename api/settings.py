"""Settings of the web API, from `CONSENTFL_*` environment variables (pydantic-settings).

`get_settings()` is cached; tests override it (`app.dependency_overrides[get_settings]`) or pass
settings to `create_app` directly. The relayer key password only ever comes from the environment
(`CONSENTFL_RELAYER_KEY_PASSWORD`) and is a `SecretStr`, so it never shows in a repr or a log.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Where the chain, the deployment, the artifacts and the relayer key are; request limits;
    how long a cached audit report is served."""

    model_config = SettingsConfigDict(env_prefix="CONSENTFL_", frozen=True, extra="ignore")

    deployment: Path | None = Field(default=None, description="deployment manifest (JSON)")
    rpc: str | None = Field(
        default=None,
        description="JSON-RPC URL of the chain (default: the manifest's, else 127.0.0.1:8545)",
    )
    ipfs: str | None = Field(
        default=None,
        description="IPFS RPC API URL or a local store directory (default: the manifest's)",
    )
    proofs: Path | None = Field(default=None, description="directory of published exclusion proofs")
    relayer_key: Path | None = Field(
        default=None, description="hex private key or keystore JSON file"
    )
    relayer_key_password: SecretStr | None = Field(default=None, description="keystore password")
    relayer_journal: Path | None = Field(
        default=None,
        description="JSON file of accepted-but-unmined revocations, resent on restart "
        "(default: next to the relayer key, `<key file>.journal.json`)",
    )
    relayer_socket: Path | None = Field(
        default=None,
        description="set by `consentfl api --workers N` in its worker processes: the Unix socket"
        " of the batcher process that sends every relayed transaction",
    )
    max_body_bytes: int = Field(
        default=16 * 1024, ge=256, description="largest request body accepted"
    )
    retry_after_seconds: int = Field(
        default=5, ge=1, description="Retry-After sent with 503 answers"
    )
    chain_timeout_seconds: float = Field(default=10.0, gt=0, description="JSON-RPC request timeout")
    post_rate_limit: int = Field(
        default=60, ge=0, description="POST requests per client IP per window; 0: no limit"
    )
    post_rate_window_seconds: float = Field(
        default=60.0, gt=0, description="the rate limit's window"
    )
    audit_max_age_seconds: float = Field(
        default=300.0,
        ge=0,
        description="a cached audit report older than this is recomputed even when no block came"
        " (artifacts can vanish from the store without a transaction)",
    )


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()

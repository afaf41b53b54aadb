"""The one place originmark reads its environment.

Everything below `app/` (keys, signer, verifier) gets its configuration through
constructor arguments built from a `Settings` instance here.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORIGINMARK_", extra="ignore")

    # Who signs: a directory written by `originmark keys init`, or an explicit pair.
    keys_dir: Path = Path("./data/keys")
    signing_chain: Path | None = None  # PEM: signing certificate first, then issuers
    signing_key: Path | None = None  # PEM private key (never logged)
    time_stamp_url: str | None = None  # RFC 3161 TSA; signing fails if it is unreachable

    # What signing writes.
    thumbnails: bool = False  # the engine's thumbnails cost 4-5x the signing time

    # Trust: extra PEM anchors named "local" (default: the development CA in keys_dir).
    local_trust_anchors: Path | None = None

    # Bounds per verified asset: untrusted input must not take the host down.
    verify_timeout_seconds: float = Field(default=30.0, gt=0)
    verify_memory_mb: int = Field(default=2048, ge=256)
    max_asset_bytes: int = Field(default=2 * 1024**3, gt=0)

    # The service (issue 3).
    database_url: str = "sqlite:///./data/originmark.db"  # or postgresql+psycopg://user@host:5432/db
    max_upload_bytes: int = Field(default=512 * 1024**2, gt=0)  # larger uploads get 413
    public_label_reads: bool = False  # let feeds read labels without an API key (signing never is)
    engine_threads: int = Field(default=4, ge=1, le=64)  # signing requests in flight (at most sign_workers)
    verify_workers: int = Field(default=2, ge=1, le=64)  # isolated verifier processes per server process
    spool_dir: Path | None = None  # where uploads are spooled (default: the system temp dir)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"

    # Issue 4 (hostile uploads, faults, load). Each area adds its settings in its own block.
    # --- issue 4: auth hardening (rate limits) ---
    # POST /v1/sign per API key: a token bucket of `sign_rate_burst` requests refilled at
    # `sign_rate_per_second` (0 = unlimited); over it, 429 with Retry-After. Counted per server
    # process: with `serve --workers N` a key gets N times this. The default is above what one
    # process signs on 2 cores (~45-70/s), so no pipeline is throttled by default; set it to what
    # each key needs so a runaway or leaked key cannot take every signing thread.
    sign_rate_per_second: float = Field(default=100.0, ge=0, allow_inf_nan=False)
    sign_rate_burst: int = Field(default=200, ge=1)
    # --- issue 4: network (remote fetches) ---
    # Remote manifests (credentials kept at a URL the asset names) are fetched only from these
    # hosts: comma-separated "host" (any port) or "host:port", e.g. "cai-manifests.adobe.com".
    # Empty (the default): from none, so an upload can never make the server contact an address
    # of its choosing. originmark fetches itself (one GET, no redirects, 16 MB, 10 s), never the
    # engine; OCSP is never fetched. See verifier/remote_manifest.py.
    remote_fetch_hosts: str = ""
    # --- issue 4: isolation (signing of uploads) ---
    # Signing parses the upload and its parent in the engine: the service signs in this many
    # worker processes per server process, each bounded per file like verification (a file over
    # a bound gets 422 `resource_limit`). Measured: signing a 500 MB MP4 peaks at 0.7 GB of
    # address space in a worker and takes 7-10 s on 2 busy cores.
    sign_workers: int = Field(default=2, ge=1, le=64)
    sign_timeout_seconds: float = Field(default=120.0, gt=0, allow_inf_nan=False)
    sign_memory_mb: int = Field(default=2048, ge=256)
    # --- issue 4: faults ---

    # Issue 5 (production signing). Each area adds its settings in its own block.
    # --- issue 5: key backends and rotation ---
    # --- issue 5: time-stamps ---
    # --- issue 5: signing policy ---

    # `originmark verify --server`: the CLI as a client of a running service. A URL here makes
    # `verify` use that service unless told otherwise; the key is best given here (not on the
    # command line, where `ps` shows it).
    server_url: str | None = None
    api_key: SecretStr | None = None  # a key with the `verify` scope (never logged or shown)

    # --- issue 7: web pages ---
    # The verify page (/) and the feed page (/feed), served by the same app as the API. The verify
    # page is public (no API key): its uploads are bounded by their own, lower size limit (and
    # never more than max_upload_bytes), by the verifier pool's time and memory limits per file,
    # and by a cap on the page's verifications in flight (more get 503 at once, before any upload
    # is spooled to disk). Nothing verified there is stored unless web_store_uploads is on.
    web_pages: bool = True
    web_store_uploads: bool = False  # store the page's verdicts by content SHA-256, as /v1/verify does
    web_max_upload_bytes: int = Field(default=64 * 1024**2, gt=0)
    web_max_pending: int = Field(default=8, ge=1, le=1024)  # the page's uploads being received or verified

    @model_validator(mode="after")
    def _chain_and_key_come_together(self) -> "Settings":
        if (self.signing_chain is None) != (self.signing_key is None):
            raise ValueError(
                "set both ORIGINMARK_SIGNING_CHAIN and ORIGINMARK_SIGNING_KEY, or neither "
                "(then ORIGINMARK_KEYS_DIR is used)"
            )
        return self

    @property
    def chain_path(self) -> Path:
        return self.signing_chain or self.keys_dir / "chain.pem"

    @property
    def key_path(self) -> Path:
        return self.signing_key or self.keys_dir / "key.pem"

    @property
    def local_anchor_path(self) -> Path:
        return self.local_trust_anchors or self.keys_dir / "ca.pem"

"""The one place originmark reads its environment.

Everything below `app/` (keys, signer, verifier) gets its configuration through
constructor arguments built from a `Settings` instance here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, model_validator

from app import home as homes
from app.config_file import CONFIG_FILENAME, ENV_PREFIX, read_config_file

DEFAULT_JOBS_PURGE_CRON = "7 * * * *"  # hourly (off the hour: away from other hourly work)


def _is_cron(expression: str) -> bool:
    from croniter import croniter  # procrastinate's own dependency

    return bool(croniter.is_valid(expression))


class Settings(BaseModel):
    """Every setting from ORIGINMARK_<NAME> (any case), under the values given to the constructor.

    Read as pydantic-settings read them before (every field is a plain value: no JSON, no nested
    names, no .env file; a field's aliases are whole variable names), without its import: ~0.1 s
    of every `originmark` command. The config file's values go under both
    (`_home_and_config_file`); defaults are validated too.
    """

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**_environment(besides=values), **values})

    # validate_by_name: Settings(sign_concurrency=2) in code and tests, while a field with a deprecated
    # older name lists its environment variables as aliases (the prefix is not applied to aliases).
    model_config = ConfigDict(extra="ignore", validate_default=True, validate_by_name=True)

    # --- where the data lives ---
    # Where the database, keys and objects are by default, whatever the current folder: ORIGINMARK_HOME,
    # else a legacy ./data of the current folder (with a warning), else the user's data directory
    # (app/home.py). Absolute once resolved. `$HOME/config.toml`, if present, holds settings below
    # the environment's (app/config_file.py). `home_source` and `config_file` say what was found:
    # always set by _home_and_config_file, whatever the environment says.
    home: Path = Field(default_factory=homes.default_home)
    home_source: homes.HomeSource = homes.HomeSource.DEFAULT
    config_file: Path | None = None
    database_url: str = ""  # default: sqlite HOME/originmark.db; or postgresql+psycopg://user@host:5432/db
    spool_dir: Path | None = None  # where uploads are spooled (default: the system temp dir)

    @model_validator(mode="before")
    @classmethod
    def _home_and_config_file(cls, data: Any) -> Any:
        """The home, the config file's settings under the environment's, and the defaults under the home."""
        if not isinstance(data, dict):
            return data
        given = data.get("home")
        choice = homes.choose_home(given=Path(given) if given not in (None, "") else None, cwd=Path.cwd())
        config_path = choice.path / CONFIG_FILENAME
        from_file = read_config_file(config_path, fields=cls.model_fields)  # ConfigFileError: a ValueError
        for name, value in from_file.items():  # a relative path in the file is relative to the home
            if isinstance(value, str) and name in _PATH_FIELDS and not Path(value).expanduser().is_absolute():
                from_file[name] = str(choice.path / value)
        merged = {**from_file, **data}
        merged.update(home=choice.path, home_source=choice.source, config_file=config_path if from_file else None)
        merged.setdefault("keys_dir", choice.path / homes.KEYS_FOLDER)
        merged.setdefault("objects_dir", choice.path / homes.OBJECTS_FOLDER)
        if not merged.get("database_url"):
            merged["database_url"] = homes.sqlite_url(choice.path / homes.DATABASE_FILENAME)
        return merged

    # --- signing credentials: who signs, and where the key is ---
    # Who signs: a directory written by `originmark keys init`, or an explicit pair.
    keys_dir: Path = Path("keys")  # default: HOME/keys
    signing_chain: Path | None = None  # PEM: signing certificate first, then issuers
    signing_key: Path | None = None  # PEM private key (never logged)

    # Where the signing key lives (keys/backends): "pem" (ORIGINMARK_SIGNING_KEY or KEYS_DIR/key.pem),
    # "pkcs11" (an HSM, or a SoftHSM2 token) or "aws-kms". The chain is ORIGINMARK_SIGNING_CHAIN or
    # KEYS_DIR/chain.pem for every backend. With KEYS_DIR/identities/ present, each identity says
    # where its own key is (identities/NAME/key.pem or backend.json) and KEYS_DIR/active names the
    # one that signs (`originmark keys rotate --to NAME` switches a running service without restart);
    # the PKCS#11 PIN settings below then apply to PKCS#11 identities without a pin_file of their own.
    key_backend: Literal["pem", "pkcs11", "aws-kms"] = "pem"
    pkcs11_module: Path | None = None  # the token vendor's library, e.g. /usr/lib/softhsm/libsofthsm2.so
    pkcs11_token_label: str | None = None
    pkcs11_key_label: str | None = None  # CKA_LABEL of the EC key pair in the token
    pkcs11_pin_file: Path | None = None  # a file holding the user PIN (mode 0600): preferred
    pkcs11_pin: SecretStr | None = None  # or the PIN itself (never logged or shown)
    # AWS KMS: credentials come from the standard AWS chain (role, AWS_PROFILE, AWS_ACCESS_KEY_ID...),
    # never from here.
    kms_key_id: str | None = None  # key id, key ARN or alias/NAME of an ECC_NIST_P256 SIGN_VERIFY key
    kms_region: str | None = None  # default: the AWS chain's region
    kms_endpoint_url: str | None = None  # a VPC endpoint (or a local emulator)

    @model_validator(mode="after")
    def _key_backend_is_complete(self) -> "Settings":
        if self.key_backend == "pkcs11":
            missing = [
                f"ORIGINMARK_{name.upper()}"
                for name in ("pkcs11_module", "pkcs11_token_label", "pkcs11_key_label")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"ORIGINMARK_KEY_BACKEND=pkcs11 needs {', '.join(missing)}")
            if (self.pkcs11_pin is None) == (self.pkcs11_pin_file is None):
                raise ValueError(
                    "ORIGINMARK_KEY_BACKEND=pkcs11 needs ORIGINMARK_PKCS11_PIN_FILE or ORIGINMARK_PKCS11_PIN (one of them)"
                )
        if self.key_backend == "aws-kms" and not self.kms_key_id:
            raise ValueError("ORIGINMARK_KEY_BACKEND=aws-kms needs ORIGINMARK_KMS_KEY_ID")
        if self.key_backend != "pem" and self.signing_key is not None:
            raise ValueError(
                f"ORIGINMARK_SIGNING_KEY is a PEM key file, but ORIGINMARK_KEY_BACKEND={self.key_backend} keeps the "
                "key elsewhere: unset it (ORIGINMARK_SIGNING_CHAIN alone names the chain)"
            )
        return self

    @model_validator(mode="after")
    def _chain_and_key_come_together(self) -> "Settings":
        # (Only for PEM keys: other key backends take the chain alone, see the key backends above.)
        if self.key_backend == "pem" and (self.signing_chain is None) != (self.signing_key is None):
            raise ValueError(
                "set both ORIGINMARK_SIGNING_CHAIN and ORIGINMARK_SIGNING_KEY, or neither "
                "(then ORIGINMARK_KEYS_DIR is used)"
            )
        return self

    # --- time-stamps ---
    # RFC 3161 time-stamps on every signature: the authority is `time_stamp_url`
    # (ORIGINMARK_TIME_STAMP_URL; signing fails if it is unreachable); ORIGINMARK_TSA_URL is accepted
    # as another name for it (the two must not disagree). A verdict reports a time-stamp's time,
    # authority and trust list.
    time_stamp_url: str | None = None
    tsa_url: str | None = None
    # The operator's TSA anchors (PEM roots or intermediates): time-stamps from authorities under
    # them are trusted and reported as trust list "local-tsa" (the C2PA TSA list ships as "c2pa-tsa").
    # They vouch for time-stamps only: a content signer chaining to them alone is not trusted.
    tsa_trust_anchors: Path | None = None
    # A time-stamp that fails while signing (refused connection, HTTP error, malformed or mismatched
    # reply, or no answer within the engine's fixed 30 s) is retried this many times, after
    # tsa_retry_delay_seconds, then twice that, ...; then signing fails: HTTP 503
    # `time_stamp_unavailable`, CLI exit 1. Never a credential without its time-stamp. The start-up
    # probe tries once, so a wrong URL stops the service at start. With a TSA set, every retry
    # timing out must fit in ORIGINMARK_SIGN_TIMEOUT_SECONDS (checked here).
    tsa_retries: int = Field(default=2, ge=0, le=10)
    tsa_retry_delay_seconds: float = Field(default=1.0, ge=0, le=60, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_time_stamping_authority(self) -> "Settings":
        if self.tsa_url is not None:
            if self.time_stamp_url is not None and self.time_stamp_url != self.tsa_url:
                raise ValueError(
                    "ORIGINMARK_TSA_URL and ORIGINMARK_TIME_STAMP_URL name different time-stamping authorities; "
                    "set one of them"
                )
            self.time_stamp_url = self.tsa_url
        if self.time_stamp_url is not None:
            from signer.time_stamping import TimeStampRetries  # no engine import: a small module

            worst = TimeStampRetries(retries=self.tsa_retries, delay_seconds=self.tsa_retry_delay_seconds)
            if worst.worst_case_seconds() >= self.sign_timeout_seconds:
                raise ValueError(
                    f"ORIGINMARK_TSA_RETRIES={self.tsa_retries} with ORIGINMARK_TSA_RETRY_DELAY_SECONDS="
                    f"{self.tsa_retry_delay_seconds:g} can spend {worst.worst_case_seconds():g} s on a silent "
                    "time-stamping authority, more than ORIGINMARK_SIGN_TIMEOUT_SECONDS="
                    f"{self.sign_timeout_seconds:g}: lower the retries or raise the sign timeout"
                )
        return self

    # --- signing: what is written, and the signer's worker processes ---
    # What signing writes.
    thumbnails: bool = False  # the engine's thumbnails cost 4-5x the signing time

    # Signing parses the upload and its parent in the engine: the service signs in this many
    # worker processes per server process, each bounded per file like verification (a file over
    # a bound gets 422 `resource_limit`). Measured: signing a 500 MB MP4 peaks at 0.7 GB of
    # address space in a worker and takes 7-10 s on 2 busy cores.
    sign_workers: int = Field(default=2, ge=1, le=64)
    sign_timeout_seconds: float = Field(default=120.0, gt=0, allow_inf_nan=False)
    sign_memory_mb: int = Field(default=2048, ge=256)
    # BMFF media (MP4, MOV...) of this many MB or more are signed with a Merkle-tree hash over
    # `mdat` (16 MiB leaves): c2pa-rs otherwise holds two 256 MB hash buffers, so a 2 GB video
    # signs at ~67 MiB instead of ~520-570 MiB (bench/large_video_bench.py). 0: always; unset
    # (empty): never. Below it, the plain BMFF hash every C2PA verifier reads.
    sign_merkle_bmff_from_mb: int | None = Field(default=512, ge=0)

    # Signing requests in flight per server process (at most sign_workers are useful). Deprecated
    # older name, still accepted: ORIGINMARK_ENGINE_THREADS (config file: engine_threads).
    sign_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        validation_alias=AliasChoices("ORIGINMARK_SIGN_CONCURRENCY", "ORIGINMARK_ENGINE_THREADS"),
    )

    # --- verification: trust, bounds per asset, the verifier's worker processes ---
    # Trust: extra PEM anchors named "local" (default: the development CA in keys_dir).
    local_trust_anchors: Path | None = None

    # Bounds per verified asset: untrusted input must not take the host down.
    verify_timeout_seconds: float = Field(default=30.0, gt=0)
    verify_memory_mb: int = Field(default=2048, ge=256)
    # 4 GiB: a signed 2 GiB master is a few KB over 2 GiB, and the engine's memory does not grow
    # with the file's size (bench/large_video_bench.py: ~0.6 GiB peak from 512 MiB to 4.1 GiB).
    max_asset_bytes: int = Field(default=4 * 1024**3, gt=0)
    verify_workers: int = Field(default=2, ge=1, le=64)  # isolated verifier processes per server process

    # Remote manifests (credentials kept at a URL the asset names) are fetched only from these
    # hosts: comma-separated "host" (any port) or "host:port", e.g. "cai-manifests.adobe.com".
    # Empty (the default): from none, so an upload can never make the server contact an address
    # of its choosing. originmark fetches itself (one GET, no redirects, 16 MB, 10 s), never the
    # engine; OCSP is never fetched. See verifier/remote_manifest.py.
    remote_fetch_hosts: str = ""

    # --- the HTTP service ---
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"
    max_upload_bytes: int = Field(default=512 * 1024**2, gt=0)  # larger uploads get 413
    # POST /v1/renditions: every rendition embeds its original's kept manifest store, and one JSON
    # answer carries every signed rendition (base64): an original whose store is larger gets 409
    # upstream_store_too_large, a request whose signed renditions would be larger 413
    # renditions_too_large (without the bounds, 5 KB of uploads made a 64 MB answer).
    renditions_max_upstream_store_bytes: int = Field(default=1024**2, gt=0)
    # Feed thumbnails staged at once per server process (each a kept copy or hard link of its file and
    # an open folder, waiting for one of the two places thumbnails are made in): past it a media id
    # keeps its placeholder (logged, originmark_feed_thumbnails_not_staged), so a burst of slow ones
    # (videos) neither fills the disk nor holds a shutdown.
    feed_thumbnails_max_pending: int = Field(default=16, ge=1, le=4096)
    # How long `serve` waits, once stopped (SIGTERM, Ctrl-C), for requests and the feed thumbnails
    # already staged before it cancels them (their staged files are removed either way).
    shutdown_grace_seconds: int = Field(default=30, ge=1, le=3600)
    renditions_max_answer_bytes: int = Field(default=32 * 1024**2, gt=0)
    public_label_reads: bool = False  # let feeds read labels without an API key (signing never is)
    # Deprecated (migration 0011): a tenant is opened to public /sbr/v1 reading with `originmark
    # tenants update NAME --sbr-public` (its `sbr_public` column). Still honoured: comma-separated
    # tenants whose shared manifest repository entries anyone may resolve without an API key
    # (?tenant=NAME), in addition to the opened ones; the service warns at start while it is set.
    sbr_public_tenants: str = ""

    # Request bodies, deadline and minimum rate: every request body (uploads, JSON) must arrive within upload_receive_timeout_seconds of the
    # request's start, and after upload_rate_grace_seconds keep up at least
    # upload_min_bytes_per_second on average (0: no minimum rate); else 408 `upload_too_slow` and the
    # spooled part is deleted (app/api/receive_pace.py). The defaults take a 512 MiB upload at 1 MB/s
    # and refuse a client that trickles below 16 KiB/s (~130 kbit/s, slower than a weak 3G link).
    upload_receive_timeout_seconds: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    upload_min_bytes_per_second: float = Field(default=16 * 1024, ge=0, allow_inf_nan=False)
    upload_rate_grace_seconds: float = Field(default=10.0, ge=0, allow_inf_nan=False)

    # --- sign rate limit, per API key ---
    # POST /v1/sign per API key: a token bucket of `sign_rate_burst` requests refilled at
    # `sign_rate_per_second` (0 = unlimited); over it, 429 with Retry-After. Counted per server
    # process (with `serve --workers N` a key gets N times this) unless rate_limit_redis_url is set:
    # then one budget per key is shared by every process and replica. The default is above what one
    # process signs on 2 cores (~45-70/s), so no pipeline is throttled by default; set it to what
    # each key needs so a runaway or leaked key cannot take every signing thread.
    sign_rate_per_second: float = Field(default=100.0, ge=0, allow_inf_nan=False)
    sign_rate_burst: int = Field(default=200, ge=1)

    # Where the sign rate limit (sign_rate_* above) keeps its buckets. Unset: in each server
    # process (no server needed; with `serve --workers N` or N replicas a key gets N times the
    # rate). Set, e.g. "redis://:password@redis.internal:6379/0" or "rediss://..." for TLS: one
    # bucket per key in that Redis, shared by every process and replica (app/api/ratelimit_redis.py).
    # If Redis does not answer within 0.5 s, sign answers 503 `rate_limit_unavailable` (fails
    # closed). A SecretStr because the URL may carry a password: never logged or shown (the
    # log names the server without credentials). Use a database number of its own per deployment
    # that shares one Redis.
    rate_limit_redis_url: SecretStr | None = None

    # --- web pages ---
    # The verify page (/) and the feed page (/feed), served by the same app as the API. The verify
    # page is public (no API key): its uploads are bounded by their own, lower size limit (and
    # never more than max_upload_bytes), by the verifier pool's time and memory limits per file,
    # by a cap on the page's verifications in flight (more get 503 once their upload is received),
    # and by a cap on each client's uploads in flight (429). Nothing verified there is stored unless
    # web_store_uploads is on.
    web_pages: bool = True
    web_store_uploads: bool = False  # store the page's verdicts by content SHA-256, as /v1/verify does
    web_max_upload_bytes: int = Field(default=64 * 1024**2, gt=0)
    web_max_pending: int = Field(default=8, ge=1, le=1024)  # the page's uploads being verified (after receiving)
    # At most this many of the page's uploads in flight (receiving or verifying) per client address,
    # more get 429: what bounds the spool a few slow clients can hold now that the verifier places
    # are taken only once a body is complete. The address is the socket's peer (`serve` turns off
    # uvicorn's X-Forwarded-For handling), so behind a reverse proxy every client shares the proxy's
    # address: raise this there, and limit per client in the proxy.
    web_max_uploads_per_client: int = Field(default=2, ge=1, le=1024)

    # --- the CLI as a client of a running service ---
    # `originmark verify --server`: the CLI as a client of a running service. A URL here makes
    # `verify` use that service unless told otherwise; the key is best given here (not on the
    # command line, where `ps` shows it).
    server_url: str | None = None
    api_key: SecretStr | None = None  # a key with the `verify` scope (never logged or shown)

    # --- object storage ---
    # Where jobs read sources and write outputs (app/objects). s3://bucket/key URIs go to S3 or an
    # S3-compatible server (MinIO, SeaweedFS, Ceph, R2...); file:// URIs and plain paths go to one
    # local folder, objects_dir (a relative path is relative to it; nothing outside it is served).
    # S3 credentials come from the standard AWS chain (AWS_PROFILE, AWS_ACCESS_KEY_ID and
    # AWS_SECRET_ACCESS_KEY, a role...), never from here, and are never logged: the settings below
    # say only where and how to connect.
    objects_dir: Path = Path("objects")  # default: HOME/objects
    # Where originmark keeps objects of its own (a job's uploaded source until a worker takes it):
    # unset, objects_dir; with API and workers on several machines, a shared s3://bucket/prefix/.
    objects_url: str | None = None
    s3_endpoint_url: str | None = None  # e.g. http://127.0.0.1:9000 (MinIO, SeaweedFS); unset: AWS S3
    s3_region: str | None = None  # unset: the AWS chain's (AWS_REGION, the profile); then us-east-1
    s3_addressing_style: Literal["auto", "virtual", "path"] = "auto"  # self-hosted servers mostly need "path"
    # Uploads over one part are multipart, one part held in memory at a time (S3: 5 MiB to 5 GiB;
    # the part grows by itself for files over 10,000 parts).
    s3_part_size_mb: int = Field(default=16, ge=5, le=5 * 1024)
    s3_max_attempts: int = Field(default=5, ge=1, le=20)  # per request, with backoff (throttling, 5xx, resets)
    s3_connect_timeout_seconds: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    s3_read_timeout_seconds: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    # A CRC32 checksum with every upload, checked by the store (botocore's default); "when_required"
    # for older S3-compatible servers that reject the checksum headers.
    s3_checksums: Literal["when_supported", "when_required"] = "when_supported"

    @model_validator(mode="after")
    def _object_storage_is_well_formed(self) -> "Settings":
        if self.s3_endpoint_url is not None and not self.s3_endpoint_url.startswith(("http://", "https://")):
            raise ValueError("ORIGINMARK_S3_ENDPOINT_URL must start with http:// or https://")
        if self.objects_url is not None:
            from app.objects.errors import InvalidObjectUri  # small modules: no boto3 import here
            from app.objects.location import parse_object_uri

            try:
                parse_object_uri(self.objects_url)
            except InvalidObjectUri as error:
                raise ValueError(f"ORIGINMARK_OBJECTS_URL: {error.message}") from None
        return self

    # --- jobs ---
    # Jobs (POST /v1/jobs/verify, `originmark worker`) run on procrastinate, whose queue lives in
    # the PostgreSQL database of database_url; with SQLite there is no queue and the job routes
    # answer 503 jobs_unavailable. A failed attempt is retried after jobs_retry_wait_seconds,
    # then twice that, three times... (linear backoff), until jobs_max_attempts attempts have failed.
    jobs_max_attempts: int = Field(default=3, ge=1, le=20)
    jobs_retry_wait_seconds: float = Field(default=5.0, ge=0, le=3600, allow_inf_nan=False)
    # A worker that has sent no heartbeat for this long is taken for dead; its running jobs are
    # queued again (checked by every worker every jobs_stalled_check_seconds).
    jobs_stalled_seconds: float = Field(default=60.0, ge=2, le=86400, allow_inf_nan=False)
    jobs_stalled_check_seconds: float = Field(default=15.0, gt=0, le=3600, allow_inf_nan=False)
    jobs_heartbeat_seconds: float = Field(default=10.0, gt=0, le=3600, allow_inf_nan=False)
    jobs_max_source_bytes: int = Field(default=4 * 1024**3, gt=0)  # a job's source object, checked before download
    # A job's source sent in the request itself (multipart) instead of as a URI: received to the
    # spool, then kept in the own objects (objects_url) until the job is final (app/jobs/staging.py).
    jobs_max_upload_bytes: int = Field(default=2 * 1024**3, gt=0)

    # --- webhooks ---
    # A job may name a webhook_url, POSTed once the job is final (succeeded, or failed after its
    # last attempt): JSON, signed `Originmark-Signature: t=...,v1=HMAC-SHA256(secret, "t.body")`
    # (app/jobs/webhook_signing.py has the receiver's check). Only to hosts listed here:
    # comma-separated "host", "host:port" or "*.example.com"; empty (the default) allows none.
    # Host names are matched as written, never resolved: what they point to is the operator's DNS.
    # Checked at submit (422 webhook_url_not_allowed) and again before every delivery attempt.
    webhook_hosts: str = ""
    # The server's master key for webhook signatures (never logged, shown or given to a receiver):
    # each tenant's secret is derived from it (app/jobs/tenant_secrets.py; `originmark tenants
    # webhook-secret NAME` prints one). Unset: webhooks are off and a job asking for one is refused
    # (422 webhooks_not_configured).
    webhook_master_key: SecretStr | None = Field(default=None, min_length=32)
    # Before tenants, this one secret was given to every receiver: deriving tenant secrets from it
    # would let any old receiver forge every tenant's events, so it is refused (see the check below).
    webhook_secret: SecretStr | None = None
    # https only, unless this is on: then http too, still only to allowlisted hosts (a receiver on
    # loopback or a private network the operator trusts).
    webhook_allow_http: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120, allow_inf_nan=False)  # connect, and each read
    # Attempts per delivery (a 2xx answer delivers; anything else, a redirect or a timeout is
    # retried after webhook_retry_wait_seconds, doubled each time, at most an hour), then given up.
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_retry_wait_seconds: float = Field(default=10.0, ge=0, le=3600, allow_inf_nan=False)

    @model_validator(mode="after")
    def _no_shared_webhook_secret(self) -> "Settings":
        if self.webhook_secret is not None:
            raise ValueError(
                "ORIGINMARK_WEBHOOK_SECRET is no longer used: every receiver held it, and tenants now have "
                "their own secrets. Set ORIGINMARK_WEBHOOK_MASTER_KEY to a NEW random value (openssl rand "
                "-hex 32) that no receiver ever sees, remove ORIGINMARK_WEBHOOK_SECRET, and give each "
                "tenant's receivers the secret `originmark tenants webhook-secret NAME` prints"
            )
        return self

    @model_validator(mode="after")
    def _webhook_hosts_are_well_formed(self) -> "Settings":
        from app.jobs.webhook_targets import WebhookAllowlist  # a small module: no queue or HTTP import

        try:
            WebhookAllowlist.parse(self.webhook_hosts)
        except ValueError as error:
            raise ValueError(f"ORIGINMARK_WEBHOOK_HOSTS: {error}") from None
        return self

    # --- job workers: metrics and purging ---
    # `originmark worker` serves Prometheus /metrics on this port (prometheus-client's own HTTP
    # server, one per worker process) when it is set; `--metrics-port` overrides it. Off by
    # default: several worker processes on one host would fight over one fixed port, and a
    # worker opens no listening socket nobody asked for. Loopback by default (no authentication
    # on /metrics): set 0.0.0.0 for a scraper on another host.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    # procrastinate's own rows (procrastinate_jobs, procrastinate_events) of finished jobs are
    # deleted by a periodic task the workers run (procrastinate's periodic tasks: one run per
    # schedule tick however many workers there are) after these many hours. Only queue
    # bookkeeping: a job's result, error and idempotency key are in originmark_jobs, never
    # deleted by it. Failed (and cancelled or aborted) jobs are kept longer, to investigate.
    jobs_purge: bool = True
    jobs_purge_cron: str = DEFAULT_JOBS_PURGE_CRON
    jobs_purge_succeeded_after_hours: int = Field(default=24, ge=1, le=24 * 3650)
    jobs_purge_failed_after_hours: int = Field(default=7 * 24, ge=1, le=24 * 3650)

    @model_validator(mode="after")
    def _jobs_purge_is_well_formed(self) -> "Settings":
        # The default is a known expression (tests/jobs/test_purge.py): only another one costs the
        # croniter import, which every command would otherwise pay, `originmark verify` included.
        if self.jobs_purge and self.jobs_purge_cron != DEFAULT_JOBS_PURGE_CRON and not _is_cron(self.jobs_purge_cron):
            raise ValueError(f"ORIGINMARK_JOBS_PURGE_CRON is not a cron expression: {self.jobs_purge_cron!r}")
        if self.jobs_purge_failed_after_hours < self.jobs_purge_succeeded_after_hours:
            raise ValueError(
                "ORIGINMARK_JOBS_PURGE_FAILED_AFTER_HOURS must be at least ORIGINMARK_JOBS_PURGE_SUCCEEDED_AFTER_HOURS "
                "(the failed purge deletes succeeded jobs of that age too)"
            )
        return self

    # --- audit key ---
    # Every audit record carries an HMAC-SHA256 under this key, which the database never holds: a
    # database owner who rewrites a record and recomputes the hash chain cannot recompute it, and
    # `originmark audit verify` names the record. A file (ORIGINMARK_AUDIT_KEY_FILE, mode 0600:
    # 64 hex digits, or any secret of at least 32 characters) or the key itself
    # (ORIGINMARK_AUDIT_KEY); neither: KEYS_DIR/audit.key, created on first start with a warning,
    # like the development signing credentials. Never logged or shown. Keep a copy off the
    # database host: records cannot be checked without it.
    audit_key_file: Path | None = None
    audit_key: SecretStr | None = None

    @model_validator(mode="after")
    def _one_audit_key(self) -> "Settings":
        from keys.audit_key import MIN_SECRET_LENGTH

        if self.audit_key is not None and self.audit_key_file is not None:
            raise ValueError("set ORIGINMARK_AUDIT_KEY or ORIGINMARK_AUDIT_KEY_FILE, not both")
        if self.audit_key is not None and len(self.audit_key.get_secret_value().strip()) < MIN_SECRET_LENGTH:
            raise ValueError(f"ORIGINMARK_AUDIT_KEY must be at least {MIN_SECRET_LENGTH} characters")
        return self

    @property
    def audit_key_path(self) -> Path:
        from keys.audit_key import AUDIT_KEY_FILENAME

        return self.audit_key_file or self.keys_dir / AUDIT_KEY_FILENAME

    @property
    def deprecated_sbr_public_tenants(self) -> frozenset[str]:
        """The names ORIGINMARK_SBR_PUBLIC_TENANTS lists (deprecated: tenants.sbr_public replaces it)."""
        return frozenset(name.strip() for name in self.sbr_public_tenants.split(",") if name.strip())

    @property
    def default_home(self) -> Path:
        """The home when ORIGINMARK_HOME is unset and no legacy ./data is found (XDG_DATA_HOME is read here)."""
        return homes.default_home()

    @property
    def chain_path(self) -> Path:
        return self.signing_chain or self.keys_dir / "chain.pem"

    @property
    def key_path(self) -> Path:
        return self.signing_key or self.keys_dir / "key.pem"

    @property
    def local_anchor_path(self) -> Path:
        return self.local_trust_anchors or self.keys_dir / "ca.pem"


_PATH_FIELDS = frozenset(
    name for name, field in Settings.model_fields.items() if field.annotation in (Path, Path | None)
)


def _environment(*, besides: Mapping[str, object]) -> dict[str, str]:
    """The variables that name a setting not given in `besides`, as pydantic-settings passed them.

    A field's variable is ORIGINMARK_<NAME>, passed under the field's name; a field with aliases
    (a renamed setting) is read from them instead, the first one set winning, and passed under
    the first alias (so it overrides the config file's value, given under the name, and an error
    names the variable). Names are compared in any case.
    """
    variables = {variable.lower(): value for variable, value in os.environ.items()}
    found = {}
    for name, field in Settings.model_fields.items():
        if name in besides:
            continue
        names = _variables(name, field.validation_alias)
        for variable in names:
            if variable.lower() in variables:
                found[names[0] if field.validation_alias is not None else name] = variables[variable.lower()]
                break
    return found


def _variables(name: str, alias: object) -> tuple[str, ...]:
    if isinstance(alias, AliasChoices):
        return tuple(choice for choice in alias.choices if isinstance(choice, str))
    if isinstance(alias, str):
        return (alias,)
    return (ENV_PREFIX + name,)

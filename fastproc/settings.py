"""The one configuration model: read once at start-up, then passed down explicitly."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of fastproc, from `FASTPROC_*` environment variables or arguments.

    >>> Settings(redis_url="redis://localhost:6379/1", job_ttl=600).key_prefix
    'fastproc'
    """

    model_config = SettingsConfigDict(env_prefix="FASTPROC_", extra="ignore")

    redis_url: str | None = Field(
        None, description="Redis/Valkey URL; unset means an embedded Valkey under `fastproc dev` "
                          "and redis://127.0.0.1:6379/0 for `serve` and `worker`."
    )
    key_prefix: str = Field("fastproc", description="Prefix of every Redis key fastproc writes.")
    processes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["workers.examples"],
        description="Comma-separated modules whose processes a worker loads.",
    )
    queue_name: str = Field("fastproc:queue", description="Default arq queue of processes.")
    job_ttl: int = Field(86_400, ge=1, description="Seconds a finished job and its results live.")
    cache_ttl: int = Field(3_600, ge=0, description="Seconds a cached result lives; 0 disables.")
    sync_wait: float = Field(
        30.0, gt=0, description="Seconds a synchronous request waits before getting the job."
    )
    job_timeout: float = Field(
        300.0, gt=0, description="Soft time limit of a job: the process is cancelled after it."
    )
    hard_timeout_grace: float = Field(
        10.0, ge=0, description="Seconds after the soft limit before the job is failed anyway."
    )
    store_retry: float = Field(
        60.0, ge=0,
        description="Seconds a worker keeps retrying to store a finished job's outcome while "
                    "Redis is away, before it hands the job back for a re-run.",
    )
    worker_lease: float = Field(
        60.0, gt=0,
        description="Seconds a worker's claim on a task lasts unless renewed: a task whose "
                    "worker died runs again after at most this long.",
    )
    max_tries: int = Field(
        3, ge=1, description="Runs of a job whose worker died before it gives up as failed."
    )
    worker_concurrency: int = Field(50, ge=1, description="Jobs one worker runs at once.")
    poll_delay: float = Field(
        0.5, gt=0, description="Seconds an idle worker waits for a nudge before it polls anyway."
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1, description="Largest accepted request body in bytes."
    )
    catalogue_refresh: float = Field(
        2.0, ge=0, description="Seconds the API trusts its copy of the process catalogue."
    )
    catalogue_ttl: float = Field(
        30.0, gt=0,
        description="Seconds a process stays listed after the last worker serving it stopped "
                    "reporting (workers report every third of this).",
    )
    redis_retries: int = Field(
        5, ge=0, description="Retries of a Redis call whose connection failed (backoff); an "
                             "API call that timed out is not retried.",
    )
    redis_timeout: float = Field(
        5.0, gt=0, description="Seconds before an API's Redis call times out (the request "
                               "gets 503 with Retry-After).",
    )
    redis_min_replicas: int = Field(
        0, ge=0, le=16,
        description="Replicas that must confirm a write (WAIT) before the API acknowledges "
                    "an execution and after a worker stores an outcome; 503 with Retry-After "
                    "when fewer confirm within a second. 0: acknowledged once the primary "
                    "has it (a failover may lose it).",
    )
    health_timeout: float = Field(
        1.0, gt=0, description="Seconds `/health` waits for Redis before it answers 503.",
    )
    max_result_bytes: int = Field(
        256 * 1024 * 1024, ge=1, description="Largest result a job may store; larger fails it."
    )
    inline_output_bytes: int = Field(
        1024 * 1024, ge=0,
        description="Binary outputs larger than this are stored apart and streamed raw.",
    )
    output_store: str | None = Field(
        None, description="URL of the object store for outputs above "
                          "`FASTPROC_INLINE_OUTPUT_BYTES` (`file:///dir`, `s3://bucket/prefix`, "
                          "`gs://…`, `az://…`, `memory://`); unset keeps every output in Redis.",
    )
    output_sweep_interval: float = Field(
        30.0, gt=0, description="Seconds between a worker's sweeps of the output store for "
                                "objects whose job has expired.",
    )
    output_links: Literal["api", "presigned"] = Field(
        "api", description="`reference` links of outputs in the store: to the API "
                           "(`api`), or presigned URLs of the store (`presigned`, S3-like "
                           "stores; never outliving the job).",
    )
    fetch_timeout: float = Field(30.0, gt=0, description="Seconds to fetch an input by reference.")
    fetch_max_bytes: int = Field(
        100 * 1024 * 1024, ge=1, description="Largest input a reference may deliver."
    )
    fetch_memory_bytes: int = Field(
        1024 * 1024, ge=0,
        description="Bytes of a reference held in memory while it downloads; "
                    "a larger one goes to a temporary file until it is complete.",
    )
    allowed_schemes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http", "https"],
        description="URL schemes accepted for input references and callbacks.",
    )
    allow_private_addresses: bool = Field(
        False, description="Allow references and callbacks to loopback/private addresses."
    )
    callback_retries: int = Field(3, ge=0, description="Retries of a failed callback POST.")
    created_job_ttl: int = Field(
        86_400, ge=1,
        description="Seconds a job created by POST /jobs (Part 4) lives unless started.",
    )
    max_created_per_caller: int = Field(
        100, ge=0,
        description="Created, unstarted jobs (POST /jobs) one caller (a key's name; without "
                    "keys, the server as a whole) may hold (0: no limit).",
    )
    max_queued_per_process: int = Field(
        0, ge=0, description="Queued jobs a process may have before 429 (0: no cap)."
    )
    max_inputs: int = Field(
        100, ge=1, description="Inputs (and requested outputs) one execute request may carry."
    )
    max_array_items: int = Field(
        100_000, ge=1,
        description="Items of any one array (members of any object) in an execute request.",
    )
    max_string_bytes: int = Field(
        8 * 1024 * 1024, ge=1, description="Bytes of any one string in an execute request."
    )
    max_json_depth: int = Field(32, ge=1, description="Nesting depth of an execute request.")
    shutdown_grace: int = Field(
        30, ge=0, description="Seconds a stopping worker lets running jobs finish."
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, repr=False,
        description="`name:key` pairs (comma-separated) that may execute and see their jobs; "
                    "setting any key turns access control on.",
    )
    read_only_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, repr=False,
        description="`name:key` pairs that may only list and describe.",
    )
    host: str = Field("127.0.0.1", description="Address the API binds to.")
    port: int = Field(8000, description="Port the API binds to.")
    base_url: str | None = Field(
        None, description="Public URL of the API for links; default: taken from each request."
    )
    title: str = Field(
        "fastproc", min_length=1, max_length=200,
        description="The service's name: the landing page's and the API definition's title "
                    "and every HTML page's title.")
    description: str = Field(
        "OGC API - Processes service", max_length=2000,
        description="What the service offers, on the landing page and in the API definition.")
    log_level: str = Field("INFO", description="loguru level.")
    log_file: str | None = Field(None, description="Also log to this file (rotated).")
    log_rotation: str = Field("50 MB", description="When the log file rotates (loguru syntax).")
    log_json: bool = Field(False, description="Log JSON lines instead of text.")
    trusted_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "[::1]"],
        description="Host names the API answers to (comma-separated; `*.example.com` for "
                    "subdomains, `*` for any); the hosts of `FASTPROC_BASE_URL` and "
                    "`FASTPROC_HOST` are trusted too. Other `Host` headers get 400.",
    )
    metrics_key: str | None = Field(
        None, repr=False,
        description="Key that `/metrics` then needs (`Authorization: Bearer` or `X-API-Key`); "
                    "unset: `/metrics` is open.",
    )
    otel: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry (a span, metrics and logs per request) "
                    "once an OpenTelemetry SDK is configured. Off: FastAPI would ask "
                    "OpenTelemetry whether one is configured on every request.",
    )
    fast_paths: bool = Field(
        True,
        description="Speed hooks into redis-py's internals (commands packed by hiredis, "
                    "the pool's check for an unread reply without a pass of the event "
                    "loop). Off: redis-py's public path, the same behaviour, slower. Safety "
                    "hooks (request head limits and timeouts, address pinning) stay on.",
    )
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds a client has to send a request line and headers."
    )
    body_timeout: float = Field(
        60.0, gt=0, description="Seconds a client has to send a request body after its headers."
    )
    max_header_count: int = Field(
        100, ge=1, description="Header fields a request may carry (431 beyond)."
    )
    max_header_bytes: int = Field(
        8 * 1024, ge=64, description="Largest header field (name and value) in bytes (431 beyond)."
    )
    max_head_bytes: int = Field(
        64 * 1024, ge=1024,
        description="Largest request head (request line and every header) in bytes, counted "
                    "as it arrives, before it is buffered (431 beyond).",
    )
    max_url_bytes: int = Field(
        16 * 1024, ge=256, description="Longest request target (path and query) in bytes "
                                       "(414 beyond)."
    )
    workflow_max_depth: int = Field(
        12, ge=1, description="Levels a workflow (nested execution request) may nest (each "
                              "level is two levels of FASTPROC_MAX_JSON_DEPTH too)."
    )
    workflow_max_nodes: int = Field(
        1000, ge=1, description="Processes one workflow may run (its root included)."
    )
    workflow_remote: bool = Field(
        True,
        description="Let workflows nest processes of other OGC API - Processes servers "
                    "(called by the worker under the address rules of references).",
    )
    workflow_remote_slots: int | None = Field(
        None, ge=1,
        description="Slots of a worker (of FASTPROC_WORKER_CONCURRENCY) that its workflows' "
                    "remote processes may hold while they wait for their server; one more "
                    "goes back to the queue for a moment instead of waiting in a slot. "
                    "Unset: half the slots. Never all but one: the jobs a remote process of "
                    "this same deployment waits for always find a slot.",
    )

    operator_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, repr=False,
        description="`name:key` pairs that see the whole `/dashboard` (workers, failures, "
                    "job ids); with keys set, other key holders see its figures per process "
                    "only, and callers without a key (while API keys are set) its totals only.",
    )
    dashboard_interval: float = Field(
        2.0, gt=0, description="Seconds between the dashboard's readings of Redis, one "
                               "per API process however many dashboards are open.",
    )
    dashboard_streams: int = Field(
        100, ge=1, description="Live dashboards (`/dashboard/events` streams) one API process "
                              "keeps open in all (429 beyond).",
    )
    dashboard_streams_per_caller: int = Field(
        5, ge=1, description="Live dashboards one API process keeps open per caller: per key, "
                             "or per client address for callers without one (429 beyond).",
    )
    job_log_lines: int = Field(
        1000, ge=0, description="Log lines of a job kept for `/jobs/{id}/logs` (the newest); "
                                "0 captures none.",
    )
    job_log_bytes: int = Field(
        262_144, ge=0, description="Bytes of log lines of a job kept (the newest).",
    )

    @field_validator("processes", "allowed_schemes", "api_keys", "read_only_keys",
                     "trusted_hosts", "operator_keys", mode="before")
    @classmethod
    def _split_modules(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def active_job_ttl(self) -> int:
        """TTL of a job record that has not ended: long enough for every try to run out."""
        return self.active_ttl_for(self.job_timeout)

    def active_ttl_for(self, soft_limit: float) -> int:
        """The same for a process with its own time limit (a worker extends the record)."""
        per_try = self.task_budget(soft_limit) + 30
        return int(self.job_ttl + per_try * (self.max_tries + 1))

    def task_budget(self, soft_limit: float) -> float:
        """The longest one try of a task may take, every phase included: fetching inputs
        by reference, running (soft limit + grace), storing the outcome (with retries).
        A task past it fails its job, so no phase can leave a job `running`."""
        return (self.fetch_timeout + soft_limit + self.hard_timeout_grace + self.store_retry
                + 10)

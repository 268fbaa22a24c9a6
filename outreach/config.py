"""The one settings class. Every process (API, worker, beat, emulator, CLI) reads it."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Values shipped in the code and in .env.example. Production refuses to start with them.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "emulator-key", "secret", "dev"})

VAR_DIR = Path("var")


class Settings(BaseSettings):
    """Configuration read from OUTREACH_* environment variables or a .env file."""

    model_config = SettingsConfigDict(
        env_prefix="OUTREACH_",
        env_file=".env",
        extra="ignore",
        env_nested_delimiter="__",
        # A refusal to start is logged: it must not print the secrets it was given.
        hide_input_in_errors=True,
    )

    env: Literal["development", "production", "test"] = "development"
    debug: bool = False
    log_level: str = "INFO"

    database_url: str = f"sqlite:///./{VAR_DIR}/outreach.db"
    # Unset means: `outreach run` starts an embedded Redis and passes its URL to every child.
    redis_url: str | None = None
    # Connections one process may hold to Redis (USSD sessions, rate limit, caches). An
    # API process runs its routes on at most 40 threads, so the default is not reached in
    # normal use; it turns a runaway into waiting instead of an ever-growing pool.
    redis_max_connections: int = Field(default=64, ge=4, le=10_000)

    secret_key: SecretStr = SecretStr("change-me")
    callback_key: SecretStr | None = None
    # Addresses or networks allowed to post callbacks (empty: any). Behind a reverse
    # proxy, list the proxy in `trusted_proxies` so the gateway's own address is checked.
    callback_allowed_ips: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)
    # Peers whose X-Forwarded-For is believed (uvicorn's forwarded_allow_ips).
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=lambda: [ip_network("127.0.0.1/32")]
    )
    # A gateway form is a few hundred bytes: anything far larger is refused (413).
    callback_max_bytes: int = Field(default=16_384, ge=1_024)
    # Personal data (names, numbers, texts) is encrypted with the first data key; every
    # listed key decrypts, so a new key goes first and the old one stays until
    # `outreach keys rotate` has rewritten the rows. Fernet keys (`outreach keys new`).
    data_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # Keys of the blind indexes (keyed hashes used to find a number or a name); the first
    # writes, all are matched during a rotation.
    index_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)

    timezone: str = "Africa/Bamako"
    default_region: str = "ML"
    ussd_service_code: str = "*384*123#"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # uvicorn processes behind `outreach api`: one per core the API may use. Each hop is
    # CPU-bound Python, so one process per core is how a host serves more hops a second.
    api_workers: int = Field(default=1, ge=1, le=64)

    gateway: Literal["emulator", "africastalking"] = "emulator"
    at_username: str = "sandbox"
    at_api_key: SecretStr = SecretStr("emulator-key")
    at_sender_id: str | None = None
    at_base_url: str | None = None
    gateway_connect_timeout: float = 3.05
    gateway_read_timeout: float = 9.05

    # Delivery pipeline.
    send_max_attempts: int = 10
    send_backoff_seconds: float = 30.0
    send_backoff_max_seconds: float = 3600.0
    lease_seconds: float = 120.0
    sweep_interval_seconds: float = 15.0
    # Most expired leases reclaimed and stray delivery reports matched per sweep.
    sweep_batch: int = 1000
    # What a send does after a timeout the gateway may or may not have accepted.
    ambiguous_policy: Literal["at_least_once", "at_most_once"] = "at_least_once"
    # Per message kind, e.g. {"campaign": "at_most_once"}; others use ambiguous_policy.
    ambiguous_policy_by_kind: dict[str, Literal["at_least_once", "at_most_once"]] = Field(
        default_factory=dict
    )
    # Recipients per second for the whole gateway account, shared by every worker.
    send_rate_per_second: float = Field(default=100.0, gt=0)
    # Most recipients in one gateway call (capped at one second of the rate).
    send_batch_size: int = Field(default=100, ge=1)
    # How often beat starts a drain of due messages, and how long one drain task runs.
    drain_tick_seconds: float = 1.0
    drain_max_seconds: float = 30.0
    # Send window in the programme's time zone, "HH:MM-HH:MM" (may cross midnight).
    send_window: str = "08:00-20:00"
    # Per message kind, e.g. {"reminder": "07:00-21:00"}; replies answer people at once.
    send_window_by_kind: dict[str, str] = Field(default_factory=lambda: {"reply": "00:00-24:00"})
    # Consecutive failed or rejected delivery reports after which a phone is unreachable.
    unreachable_after_failures: int = Field(default=3, ge=1)

    ussd_session_ttl_seconds: int = 300
    # A session dropped mid-flow is offered back ("1 Continuer / 2 Recommencer") when the
    # same phone dials again within this window; 0 turns resuming off.
    ussd_resume_window_seconds: int = 180

    # Programmes and content.
    # Send draft (unreviewed) programme messages; unset: only in development.
    content_send_drafts: bool | None = None
    # Per language: send the GSM-safe spelling (1 segment) rather than the original.
    content_gsm_safe: dict[str, bool] = Field(default_factory=lambda: {"fr": True, "bm": True})
    # Local times ("HH:MM") at which beat runs the daily programme fan-out.
    programme_fanout_times: list[str] = Field(default_factory=lambda: ["07:30"])
    # Enrollment ids per fan-out transaction.
    programme_fanout_batch: int = Field(default=50_000, ge=1)
    # Earlier days the fan-out covers again (a missed run, a late-evening registration).
    programme_catchup_days: int = Field(default=1, ge=0)
    # XOF per SMS segment, by "country" or "country/network" (e.g. "ML/Orange").
    sms_prices_xof: dict[str, float] = Field(default_factory=lambda: {"ML": 25.0})

    # Campaigns. Beneficiaries per outbox insert when a run's recipients are materialised.
    campaign_materialise_batch: int = Field(default=5_000, ge=1)
    # How often beat starts due campaign runs and closes finished ones.
    campaign_tick_seconds: float = Field(default=5.0, gt=0)
    # Hours a `sent` campaign SMS may wait for its delivery report before the run can end.
    campaign_report_wait_hours: float = Field(default=48.0, ge=0)

    # Inbound SMS. Replies (keyword confirmations, help, auto-replies) per phone per hour:
    # a loop with another automated sender stops here instead of running up costs.
    inbound_replies_per_hour: int = Field(default=5, ge=0)
    # A folder of extra keyword files (same format as outreach/inbound/keywords/*.yaml).
    inbound_keywords_dir: str | None = None

    # Appointments and reminders. A folder of staff-edited schedule files (a file replaces
    # the default schedule of its kind; see docs/appointments.md).
    appointment_schedules_dir: str | None = None
    # Reminder slots per appointment kind ("default" for the others): slot name ->
    # "<days before> HH:MM-HH:MM", the local window in which that reminder may go out.
    appointment_reminder_slots: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {"default": {"eve": "1 18:00-20:00", "morning": "0 07:00-10:00"}}
    )
    # A proposed appointment moves to a real clinic day at most this many days away.
    appointment_clinic_day_window_days: int = Field(default=7, ge=0)
    # How often beat plans reminders (and round days); each run is idempotent.
    appointment_plan_interval_seconds: float = Field(default=900.0, gt=0)
    # Days ahead whose reminders are planned (1: today's and tomorrow's sends).
    appointment_plan_horizon_days: int = Field(default=1, ge=0)
    # Appointment ids per planning transaction.
    appointment_plan_batch: int = Field(default=50_000, ge=1)
    # Days ahead for which clinic-round and awareness days become appointments.
    appointment_round_horizon_days: int = Field(default=14, ge=1)
    # Staff accounts. Console sessions live in Redis and expire after this much idle time.
    session_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    # API tokens handed out by POST /api/v1/auth/token.
    api_token_ttl_seconds: int = Field(default=12 * 3600, ge=60)
    # Failed logins allowed per email and per client IP within the window.
    login_max_failures: int = Field(default=5, ge=1)
    login_failure_window_seconds: int = Field(default=15 * 60, ge=1)
    # Staff are alerted when one CHW is locked out of USSD this many times in the window.
    pin_lockout_alert_threshold: int = Field(default=3, ge=1)
    pin_lockout_alert_window_hours: int = Field(default=24, ge=1)

    # Data protection. Message bodies, inbound texts and other free text older than this
    # many days are blanked (rows, statuses and costs stay for reporting).
    message_retention_days: int = Field(default=180, ge=1)
    # Rows of each kind blanked per retention transaction.
    retention_batch: int = Field(default=1_000, ge=1)

    simulator_enabled: bool = True

    # Local Africa's Talking emulator.
    emulator_host: str = "127.0.0.1"
    emulator_port: int = 8025
    emulator_delivery_url: str = "http://127.0.0.1:8000/callbacks/at/delivery"
    emulator_delivery_delay_seconds: float = 0.3
    emulator_fail_5xx_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    emulator_timeout_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    emulator_timeout_seconds: float = 12.0
    # Per-recipient status codes, e.g. {"+22370000403": 403}.
    emulator_recipient_status: dict[str, int] = Field(default_factory=dict)
    # Delivery report per recipient, "Status" or "Status:failureReason",
    # e.g. {"+22370000001": "Failed:DeliveryFailure"}; others get "Success".
    emulator_delivery_status: dict[str, str] = Field(default_factory=dict)
    emulator_price_per_segment: float = 25.0
    emulator_currency: str = "XOF"
    emulator_ledger_path: str | None = None
    emulator_seed: int | None = None

    @property
    def emulator_url(self) -> str:
        return f"http://{self.emulator_host}:{self.emulator_port}"

    @property
    def gateway_base_url(self) -> str | None:
        """Where the SDK sends: the override, the emulator, or the SDK's own choice."""
        if self.at_base_url:
            return self.at_base_url.rstrip("/")
        if self.gateway == "emulator":
            return f"{self.emulator_url}/version1"
        return None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def send_drafts(self) -> bool:
        """Whether unreviewed programme messages may be sent (development shows the programme)."""
        if self.content_send_drafts is not None:
            return self.content_send_drafts
        return self.env == "development"

    @field_validator("callback_allowed_ips", "trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        # "196.201.214.0/24, 10.0.0.5" in an environment file; a list from code or JSON.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("data_keys", "index_keys", mode="before")
    @classmethod
    def _comma_separated_keys(cls, value: object) -> object:
        # .env.example's "change-me" counts as unset: production then names the variable.
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if isinstance(value, list):
            return [v for v in value if not isinstance(v, str) or v not in PLACEHOLDER_SECRETS]
        return value

    @field_validator("data_keys")
    @classmethod
    def _fernet_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for key in value:
            try:
                raw = base64.urlsafe_b64decode(key.get_secret_value().encode())
            except (ValueError, binascii.Error):
                raw = b""
            if len(raw) != 32:
                raise ValueError("each OUTREACH_DATA_KEYS entry must come from `outreach keys new`")
        return value

    @field_validator("index_keys")
    @classmethod
    def _long_index_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(len(key.get_secret_value()) < 32 for key in value):
            raise ValueError("each OUTREACH_INDEX_KEYS entry must be 32 characters or more")
        return value

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if self.env != "production":
            return self
        problems = []
        if self.secret_key.get_secret_value() in PLACEHOLDER_SECRETS:
            problems.append("OUTREACH_SECRET_KEY is a placeholder")
        key = self.callback_key.get_secret_value() if self.callback_key else ""
        if len(key) < 24 or key in PLACEHOLDER_SECRETS:
            problems.append("OUTREACH_CALLBACK_KEY must be set to a random value (24+ chars)")
        if self.gateway != "africastalking":
            problems.append("OUTREACH_GATEWAY must be 'africastalking' in production")
        if self.at_username == "sandbox":
            problems.append("OUTREACH_AT_USERNAME is 'sandbox': the SDK would send to AT's sandbox")
        if self.at_api_key.get_secret_value() in PLACEHOLDER_SECRETS:
            problems.append("OUTREACH_AT_API_KEY is a placeholder")
        if self.debug:
            problems.append("OUTREACH_DEBUG must be off in production")
        # Derived keys would sit next to the secret key: personal data needs its own.
        if not self.data_keys:
            problems.append("OUTREACH_DATA_KEYS must be set in production")
        if not self.index_keys:
            problems.append("OUTREACH_INDEX_KEYS must be set in production")
        if not self.redis_url:
            problems.append("OUTREACH_REDIS_URL must be set in production")
        if self.is_sqlite:
            problems.append("OUTREACH_DATABASE_URL must point at PostgreSQL in production")
        if self.content_send_drafts:
            problems.append("OUTREACH_CONTENT_SEND_DRAFTS must be off: only approved texts go out")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()

"""The one settings class. Every process (API, worker, beat, emulator, CLI) reads it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    secret_key: SecretStr = SecretStr("change-me")
    callback_key: SecretStr | None = None

    timezone: str = "Africa/Bamako"
    default_region: str = "ML"
    ussd_service_code: str = "*384*123#"

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    gateway: Literal["emulator", "africastalking"] = "emulator"
    at_username: str = "sandbox"
    at_api_key: SecretStr = SecretStr("emulator-key")
    at_sender_id: str | None = None
    at_base_url: str | None = None
    gateway_connect_timeout: float = 3.05
    gateway_read_timeout: float = 9.05

    # Delivery pipeline.
    send_max_attempts: int = 6
    send_backoff_seconds: float = 30.0
    send_backoff_max_seconds: float = 3600.0
    lease_seconds: int = 120
    sweep_interval_seconds: float = 15.0
    sweep_batch: int = 1000
    # A row enqueued this long ago and still idle is enqueued again by the sweeper.
    requeue_after_seconds: int = 60
    # What a send does after a timeout the gateway may or may not have accepted.
    ambiguous_policy: Literal["at_least_once", "at_most_once"] = "at_least_once"

    ussd_session_ttl_seconds: int = 300

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
        if not self.redis_url:
            problems.append("OUTREACH_REDIS_URL must be set in production")
        if self.is_sqlite:
            problems.append("OUTREACH_DATABASE_URL must point at PostgreSQL in production")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()

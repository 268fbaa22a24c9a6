"""Settings: production refuses placeholders and unsafe choices; development just works."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from outreach.config import Settings

SECRET_KEY = "s3-7d1f0b9e2c4a6e8f0a1b2c3d4e5f6a7b"
CALLBACK_KEY = "cb-0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d"
AT_API_KEY = "atsk_5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a"
DATA_KEY = "q3nUQ0fJ8W1yH2bX5kP7sD9vR4tL6mC0aE8gZ2iK1oY="
INDEX_KEY = "ix-4b1d9e7c3a5f8e2d6c0b9a8f7e6d5c4b3a2f1e0d"


@pytest.fixture
def clean_env() -> Iterator[None]:
    """No OUTREACH_* variable from the test run, no .env: only what the test passes."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("OUTREACH_"):
                patch.delenv(name)
        yield


def _production(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "production",
        "secret_key": SECRET_KEY,
        "callback_key": CALLBACK_KEY,
        "gateway": "africastalking",
        "at_username": "outreach-mali",
        "at_api_key": AT_API_KEY,
        "database_url": "postgresql+psycopg://outreach@db.internal:5432/outreach",
        "redis_url": "redis://redis.internal:6379/0",
        "debug": False,
        "data_keys": DATA_KEY,
        "index_keys": INDEX_KEY,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def test_a_fully_specified_production_config_is_accepted(clean_env) -> None:
    # Given every production setting filled with real values
    # When the settings are built
    settings = _production()
    # Then they are accepted as given
    assert settings.env == "production"
    assert settings.gateway == "africastalking" and not settings.is_sqlite
    assert settings.callback_key is not None
    assert settings.callback_key.get_secret_value() == CALLBACK_KEY
    assert settings.gateway_base_url is None


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"secret_key": "change-me"}, "OUTREACH_SECRET_KEY"),
        ({"secret_key": ""}, "OUTREACH_SECRET_KEY"),
        ({"secret_key": "dev"}, "OUTREACH_SECRET_KEY"),
        ({"callback_key": None}, "OUTREACH_CALLBACK_KEY"),
        ({"callback_key": ""}, "OUTREACH_CALLBACK_KEY"),
        ({"callback_key": "emulator-key"}, "OUTREACH_CALLBACK_KEY"),
        ({"callback_key": "short-key-0123456789"}, "OUTREACH_CALLBACK_KEY"),
        ({"gateway": "emulator"}, "OUTREACH_GATEWAY"),
        ({"at_api_key": "emulator-key"}, "OUTREACH_AT_API_KEY"),
        ({"database_url": "sqlite:///./var/outreach.db"}, "OUTREACH_DATABASE_URL"),
        ({"redis_url": None}, "OUTREACH_REDIS_URL"),
        ({"redis_url": ""}, "OUTREACH_REDIS_URL"),
        ({"debug": True}, "OUTREACH_DEBUG"),
        ({"data_keys": ""}, "OUTREACH_DATA_KEYS"),
        ({"index_keys": ""}, "OUTREACH_INDEX_KEYS"),
    ],
    ids=[
        "secret-placeholder",
        "secret-empty",
        "secret-dev",
        "callback-key-unset",
        "callback-key-empty",
        "callback-key-placeholder",
        "callback-key-short",
        "emulator-gateway",
        "at-api-key-placeholder",
        "sqlite",
        "no-redis",
        "empty-redis",
        "debug",
        "no-data-key",
        "no-index-key",
    ],
)
def test_production_refuses_an_unsafe_setting(clean_env, overrides, complaint) -> None:
    # Given an otherwise complete production config with one unsafe value
    # When the settings are built
    with pytest.raises(ValidationError) as refused:
        _production(**overrides)
    # Then startup is refused, naming the variable to fix, and only that one
    message = str(refused.value)
    assert "refusing to start in production" in message
    assert complaint in message
    assert message.count("OUTREACH_") == 1


def test_production_lists_every_problem_at_once(clean_env) -> None:
    # Given production with nothing else set
    # When the settings are built from defaults
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, env="production")
    # Then every problem is named in one go
    message = str(refused.value)
    for variable in (
        "OUTREACH_SECRET_KEY",
        "OUTREACH_CALLBACK_KEY",
        "OUTREACH_GATEWAY",
        "OUTREACH_AT_API_KEY",
        "OUTREACH_REDIS_URL",
        "OUTREACH_DATABASE_URL",
        "OUTREACH_DATA_KEYS",
        "OUTREACH_INDEX_KEYS",
    ):
        assert variable in message


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"data_keys": "not-a-fernet-key"}, "OUTREACH_DATA_KEYS"),
        ({"data_keys": f"{DATA_KEY},short"}, "OUTREACH_DATA_KEYS"),
        ({"index_keys": "too-short"}, "OUTREACH_INDEX_KEYS"),
    ],
    ids=["data-key-malformed", "second-data-key-malformed", "index-key-short"],
)
def test_malformed_keys_are_refused_in_any_environment(clean_env, overrides, complaint) -> None:
    # Given a key that is not what `outreach keys new` prints
    # When the settings are built, even outside production
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, **overrides)
    # Then they are refused, naming the variable without echoing the key
    message = str(refused.value)
    assert complaint in message
    assert "not-a-fernet-key" not in message and "too-short" not in message


def test_several_keys_are_read_in_order(clean_env, monkeypatch) -> None:
    # Given a new data key placed before the one being retired, as in a rotation
    monkeypatch.setenv("OUTREACH_DATA_KEYS", f"{DATA_KEY}, {DATA_KEY[::-1][1:]}=")
    monkeypatch.setenv("OUTREACH_INDEX_KEYS", INDEX_KEY)
    # When the settings are read
    settings = Settings(_env_file=None)
    # Then both are kept, the new one first
    assert settings.data_keys[0].get_secret_value() == DATA_KEY
    assert len(settings.data_keys) == 2 and len(settings.index_keys) == 1


def test_production_refusal_does_not_print_the_secrets(clean_env) -> None:
    # Given real secrets and one mistake (a short callback key)
    # When startup is refused
    with pytest.raises(ValidationError) as refused:
        _production(callback_key="short-key-0123456789")
    # Then the error, which ends up in the deploy logs, holds none of the secrets
    message = str(refused.value)
    for secret in (SECRET_KEY, AT_API_KEY, "short-key-0123456789"):
        assert secret not in message
        assert secret[-12:] not in message


def test_production_reads_the_environment(clean_env, monkeypatch) -> None:
    # Given production configured the way a deployment does it, through OUTREACH_* variables
    for name, value in {
        "ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "CALLBACK_KEY": CALLBACK_KEY,
        "GATEWAY": "africastalking",
        "AT_USERNAME": "outreach-mali",
        "AT_API_KEY": AT_API_KEY,
        "DATABASE_URL": "postgresql+psycopg://outreach@db.internal:5432/outreach",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "DATA_KEYS": DATA_KEY,
        "INDEX_KEYS": INDEX_KEY,
    }.items():
        monkeypatch.setenv(f"OUTREACH_{name}", value)
    # When the settings are read
    settings = Settings(_env_file=None)
    # Then they are accepted, secrets kept out of repr
    assert settings.env == "production" and settings.at_username == "outreach-mali"
    assert isinstance(settings.at_api_key, SecretStr)
    assert AT_API_KEY not in repr(settings) and CALLBACK_KEY not in repr(settings)


def test_development_defaults_are_accepted(clean_env) -> None:
    # Given no configuration at all
    # When the settings are built
    settings = Settings(_env_file=None)
    # Then the placeholders a developer starts with are fine outside production
    assert settings.env == "development" and not settings.debug
    assert settings.gateway == "emulator" and settings.is_sqlite
    assert settings.secret_key.get_secret_value() == "change-me"
    assert settings.callback_key is None and settings.redis_url is None
    assert settings.gateway_base_url == f"{settings.emulator_url}/version1"
    assert settings.ambiguous_policy == "at_least_once"


@pytest.mark.parametrize("env", ["development", "test"])
def test_placeholders_are_accepted_outside_production(clean_env, env) -> None:
    # Given every unsafe value at once, outside production
    # When the settings are built
    settings = Settings(
        _env_file=None,
        env=env,
        secret_key="change-me",
        callback_key="dev",
        debug=True,
        database_url="sqlite:///./var/outreach.db",
    )
    # Then nothing is refused
    assert settings.env == env and settings.debug

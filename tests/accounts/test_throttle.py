"""Login rate limiting per email and per client IP."""

from __future__ import annotations

from outreach.accounts import throttle
from outreach.config import get_settings


def test_five_failures_lock_the_email_for_the_window() -> None:
    # given the default limit of 5 failures in 15 minutes
    limit = get_settings().login_max_failures
    window = get_settings().login_failure_window_seconds
    for n in range(limit - 1):
        throttle.record_login_failure(email="awa@ong.ml", ip=f"10.0.0.{n}")
        # then the first failures are still allowed
        assert throttle.check_login_allowed(email="awa@ong.ml", ip="10.0.1.1") is None
    # when the last allowed failure happens
    throttle.record_login_failure(email="AWA@ong.ml ", ip="10.0.0.99")
    # then that email must wait until the window ends, from any address
    wait = throttle.check_login_allowed(email="awa@ong.ml", ip="10.0.1.1")
    assert wait is not None and 0 < wait <= window
    # and another email from another address is not affected
    assert throttle.check_login_allowed(email="fanta@ong.ml", ip="10.0.1.1") is None


def test_one_address_guessing_many_emails_is_locked() -> None:
    # given one address failing with a different email each time
    for n in range(get_settings().login_max_failures):
        throttle.record_login_failure(email=f"user{n}@ong.ml", ip="192.0.2.7")
    # then a fresh email from that address is refused, and from elsewhere allowed
    assert throttle.check_login_allowed(email="new@ong.ml", ip="192.0.2.7") is not None
    assert throttle.check_login_allowed(email="new@ong.ml", ip="192.0.2.8") is None


def test_success_clears_the_email_count_but_not_the_address() -> None:
    # given four failures on one email from one address
    for _ in range(get_settings().login_max_failures - 1):
        throttle.record_login_failure(email="awa@ong.ml", ip="192.0.2.7")
    # when she finally logs in
    throttle.record_login_success(email="awa@ong.ml")
    # then her email starts again from zero, while the address keeps its count
    throttle.record_login_failure(email="awa@ong.ml", ip="192.0.2.50")
    assert throttle.check_login_allowed(email="awa@ong.ml", ip="192.0.2.50") is None
    throttle.record_login_failure(email="other@ong.ml", ip="192.0.2.7")
    assert throttle.check_login_allowed(email="x@ong.ml", ip="192.0.2.7") is not None


def test_keys_never_hold_the_email_in_clear() -> None:
    from outreach.redis import get_redis

    # given a failure
    throttle.record_login_failure(email="awa@ong.ml", ip="192.0.2.7")
    # then no Redis key names the address
    keys = [k.decode() for k in get_redis().scan_iter("outreach:login:*")]
    assert keys and not any("awa" in k for k in keys)


def test_refusal_message_is_french_minutes() -> None:
    assert throttle.refusal_message(30) == (
        "trop de tentatives de connexion: réessayez dans 1 minute"
    )
    assert throttle.refusal_message(600).endswith("dans 10 minutes")

"""Repeated PIN lockouts of one CHW: an alert to staff, once per window."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import select

from outreach.audit.models import AuditEntry
from outreach.chws import service as chw_service
from outreach.chws.models import Chw
from outreach.config import get_settings
from outreach.redis import get_redis
from outreach.timeutil import utcnow


def _lock_out(db, chw: Chw) -> None:
    """Five wrong PINs, then the lockout served (as if she waited a quarter of an hour)."""
    for _ in range(chw_service.MAX_PIN_ATTEMPTS):
        assert not chw_service.check_pin(db, chw=chw, pin="0000")
    assert chw.locked_until is not None
    chw.locked_until = utcnow() - timedelta(seconds=1)
    db.add(chw)
    db.flush()


def _entries(db, action: str) -> list[AuditEntry]:
    return list(db.exec(select(AuditEntry).where(AuditEntry.action == action)).all())


def _counter(name: str) -> int:
    return int(get_redis().hget("outreach:metrics:counters", name) or 0)


def test_three_lockouts_in_a_day_raise_one_alert(chw, db) -> None:
    # Given a CHW locked out twice today
    before = _counter("outreach_chw_pin_lockout_alerts")
    _lock_out(db, chw)
    _lock_out(db, chw)
    assert _entries(db, chw_service.LOCKOUT_ALERT_ACTION) == []
    # When she is locked out a third time, then a fourth
    _lock_out(db, chw)
    _lock_out(db, chw)
    # Then every lockout is in the audit log, and one alert names her, never the PIN
    assert len(_entries(db, chw_service.LOCKOUT_ACTION)) == 4
    [alert] = _entries(db, chw_service.LOCKOUT_ALERT_ACTION)
    assert alert.object_type == "chw" and alert.object_id == str(chw.id)
    assert alert.detail == {"lockouts": 3, "window_hours": 24}
    assert "0000" not in str(alert.detail) and "1234" not in str(alert.detail)
    # And Prometheus counts one alert
    assert _counter("outreach_chw_pin_lockout_alerts") == before + 1


def test_lockouts_spread_over_more_than_the_window_raise_nothing(chw, db) -> None:
    # Given two lockouts more than a day ago
    _lock_out(db, chw)
    _lock_out(db, chw)
    db.execute(update(AuditEntry).values(at=utcnow() - timedelta(hours=25)))
    # When she is locked out again today
    _lock_out(db, chw)
    # Then it is one lockout in the window: no alert
    assert _entries(db, chw_service.LOCKOUT_ALERT_ACTION) == []


def test_a_new_window_can_raise_a_new_alert(chw, db) -> None:
    # Given an alert raised more than a day ago
    for _ in range(3):
        _lock_out(db, chw)
    db.execute(update(AuditEntry).values(at=utcnow() - timedelta(hours=25)))
    # When she is locked out three more times today
    for _ in range(3):
        _lock_out(db, chw)
    # Then staff are alerted again
    assert len(_entries(db, chw_service.LOCKOUT_ALERT_ACTION)) == 2


def test_the_threshold_and_window_come_from_the_settings(chw, db, monkeypatch) -> None:
    # Given a stricter programme: two lockouts within two hours
    monkeypatch.setattr(get_settings(), "pin_lockout_alert_threshold", 2)
    monkeypatch.setattr(get_settings(), "pin_lockout_alert_window_hours", 2)
    # When she is locked out twice
    _lock_out(db, chw)
    _lock_out(db, chw)
    # Then the alert says so
    [alert] = _entries(db, chw_service.LOCKOUT_ALERT_ACTION)
    assert alert.detail == {"lockouts": 2, "window_hours": 2}

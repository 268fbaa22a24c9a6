"""`outreach content check | preview | fan-out`, and the beat entry of the fan-out."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select
from typer.testing import CliRunner

from outreach.cli import app
from outreach.config import get_settings
from outreach.outbox.models import OutboundMessage
from outreach.programmes.beat import fan_out_schedule
from outreach.timeutil import local_today

runner = CliRunner()


def test_check_prints_a_table_per_programme_and_language_and_passes_with_drafts() -> None:
    # Given the shipped library
    # When it is checked counting drafts as sendable (development)
    result = runner.invoke(app, ["content", "check", "--send-drafts"], env={"COLUMNS": "160"})
    # Then each programme has a row per language and spelling, and it is valid
    assert result.exit_code == 0, result.output
    for word in ("pregnancy", "infant", "hygiene", "covid19", "malaria", "bm_gsm", "UCS-2"):
        assert word in result.output
    assert "Contenu valide" in result.output


def test_check_fails_on_approval_gaps_when_only_approved_messages_may_go() -> None:
    # Given the shipped library, all drafts
    # When it is checked as production sends (approved only)
    result = runner.invoke(app, ["content", "check", "--approved-only"], env={"COLUMNS": "160"})
    # Then it fails and names the gaps
    assert result.exit_code == 1
    assert "no approved message at week 8" in result.output


def test_preview_shows_the_week_in_the_sent_form_with_its_size() -> None:
    # Given a Bambara speaker at pregnancy week 20 on a shared phone
    # When the week is previewed
    result = runner.invoke(
        app,
        ["content", "preview", "--week", "20", "--language", "bm", "--name", "Awa"],
        env={"COLUMNS": "200"},
    )
    # Then the GSM-safe text, addressed by name, is shown as one GSM-7 segment
    assert result.exit_code == 0, result.output
    assert "preg_w20" in result.output
    assert "Awa ye: Dògòkun 20 la" in result.output
    assert "GSM-7" in result.output


def test_preview_of_an_infant_age_in_days_marks_the_day() -> None:
    # Given an infant aged 3 days
    # When previewed in French
    result = runner.invoke(
        app, ["content", "preview", "--age-days", "3", "--language", "fr"], env={"COLUMNS": "200"}
    )
    # Then both first-week messages show, the day-3 one marked
    assert result.exit_code == 0, result.output
    assert "inf_d000" in result.output and "inf_d003" in result.output
    assert "(ce jour)" in result.output


def test_fan_out_command_runs_a_day(db: Session, enroll, make_beneficiary) -> None:
    # Given a woman at week 20 today and drafts allowed to go (as in development)
    enroll(
        make_beneficiary(), "pregnancy", local_today() + timedelta(weeks=20), start=local_today()
    )
    db.commit()
    settings = get_settings()
    before = settings.content_send_drafts
    settings.content_send_drafts = True
    try:
        # When the fan-out command runs for today
        result = runner.invoke(app, ["content", "fan-out", "--day", local_today().isoformat()])
    finally:
        settings.content_send_drafts = before
    # Then her message is queued
    assert result.exit_code == 0, result.output
    assert "1 messages mis en file" in result.output
    db.expire_all()
    assert len(db.exec(select(OutboundMessage)).all()) == 1


def test_beat_runs_the_fan_out_at_each_configured_time_on_the_maintenance_queue() -> None:
    # Given two fan-out times in Bamako (UTC+0)
    settings = get_settings().model_copy(update={"programme_fanout_times": ["07:30", "16:00"]})
    # When the beat entries are built
    entries = fan_out_schedule(settings)
    # Then each runs the registered task on the maintenance queue at that time
    assert sorted(entries) == ["programmes-fan-out-0730", "programmes-fan-out-1600"]
    entry = entries["programmes-fan-out-0730"]
    assert entry["task"] == "programmes.fan_out"
    assert entry["options"]["queue"] == "maintenance"
    assert entry["schedule"].hour == {7} and entry["schedule"].minute == {30}


def test_the_celery_app_knows_the_fan_out_task() -> None:
    # Given the worker's Celery app
    from workers.app import celery_app

    # When its configured task modules are imported (as a worker does at start)
    celery_app.loader.import_default_modules()
    # Then the fan-out task and its beat entry are there
    assert "programmes.fan_out" in celery_app.tasks
    assert any(e["task"] == "programmes.fan_out" for e in celery_app.conf.beat_schedule.values())

"""Logs: structured, and never a name, a full phone number or a message body."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlmodel import select

from outreach.config import get_settings
from outreach.logging import (
    AccessQuery,
    JsonFormatter,
    Redact,
    configure_logging,
    log_context,
    redact,
)

# --- the redaction layer on its own ------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "+22378561234",
        "22378561234",
        "0022378561234",
        "78561234",
        "78 56 12 34",
        "+223 78 56 12 34",
        "78.56.12.34",
        "78-56-12-34",
        "%2B22378561234",
    ],
)
def test_every_common_form_of_a_number_is_masked(written: str) -> None:
    # Given a line carrying a Malian number as people and systems write it
    line = redact(f"sms from {written}: ok")
    # Then it shows the masked number only, as registry.phones.mask writes it
    assert line == "sms from +223******34: ok"


@pytest.mark.parametrize(
    "kept",
    [
        "task 82345678-1f2e-4d5c-9b8a-7c6d5e4f3a2b received",
        "fan-out 2026-11-22: 1200 rows",
        "drain took 0.12345678 s",
        "import 12345678",
        "message ATXid_7a1b2c3d45678901 sent",
    ],
)
def test_ids_dates_and_durations_are_left_alone(kept: str) -> None:
    assert redact(kept) == kept


def test_the_callback_key_and_foreign_numbers_are_hidden() -> None:
    assert redact("POST /callbacks/at/sms?key=s3cr3t&x=1") == "POST /callbacks/at/sms?key=***&x=1"
    assert "612345678" not in redact("to +33 6 12 34 56 78")


def test_records_are_redacted_whatever_handler_receives_them() -> None:
    # Given a handler that is none of ours (a library's, a test's)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("somewhere.else")
    logger.addHandler(handler)
    logger.propagate = False
    configure_logging()
    try:
        # When a number is logged in the message, an argument and an exception
        try:
            raise ValueError("déjà enregistré sur le numéro +22378561234")
        except ValueError:
            logger.exception("failed for %s (%r)", "78 56 12 34", {"to": "78561234"})
        logger.error(ValueError("pas de crédit pour 0022378561234"))
    finally:
        logger.removeHandler(handler)
    # Then that handler never saw it
    assert "78561234" not in stream.getvalue() and "78 56 12 34" not in stream.getvalue()
    assert "+223******34" in stream.getvalue()


def test_json_lines_carry_the_context_fields() -> None:
    # Given a record logged inside a request's context, with an extra field
    record = logging.LogRecord("outreach.x", logging.INFO, __file__, 1, "sent %d", (3,), None)
    record.message_id = 42
    with log_context(request_id="abc123", path="/callbacks/at/sms"):
        line = json.loads(JsonFormatter().format(record))
    # Then the line is one JSON object with the level, logger, context and extra fields
    assert line["msg"] == "sent 3" and line["level"] == "INFO" and line["logger"] == "outreach.x"
    assert line["request_id"] == "abc123" and line["path"] == "/callbacks/at/sms"
    assert line["message_id"] == 42 and line["ts"].endswith("+00:00")


def test_access_lines_keep_the_path_not_the_search() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.1:5000", "GET", "/console/beneficiaries?q=Nassoumbou&limit=50", "1.1", 200),
        None,
    )
    AccessQuery().filter(record)
    Redact().filter(record)
    assert record.getMessage().endswith('"GET /console/beneficiaries?q=***&limit=50 HTTP/1.1" 200')


# --- a full run, every log line captured ---------------------------------------------

FIRST, LAST = "Nassoumbou", "Kountao"
NATIONAL = "78561234"
E164 = "+223" + NATIONAL
REPLY = "Kouroukoro bébé tousse fort depuis mardi"
CAMPAIGN = "{prenom}, la vaccination Tiéfinzan passe jeudi au CSCom."
KEY = "cle-de-rappel-e2e"


class Capture(logging.Handler):
    """Every record, as JSON lines and as the raw message and exception text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(record.getMessage())
        self.lines.append(record.exc_text or "")
        self.lines.append(repr(record.args))


@pytest.fixture
def captured() -> Iterator[Capture]:
    """Capture on the root logger and on every logger that does not pass records up."""
    configure_logging()
    capture = Capture()
    root = logging.getLogger()
    loggers = [root] + [
        logging.getLogger(name)
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    levels = {
        name: logging.getLogger(name).level
        for name in ("outreach", "workers", "celery.app.trace", "celery.worker.strategy")
    }
    for logger in loggers:
        logger.addHandler(capture)
    # Production's level, INFO, everywhere; our own code and Celery's task lines (arguments
    # on receipt, results on success) down to DEBUG, to be stricter than production.
    root_level = root.level
    root.setLevel(logging.INFO)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        for logger in loggers:
            logger.removeHandler(capture)
        root.setLevel(root_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def api(captured: Capture, serve: Callable[..., str], emulator_url: str) -> Iterator[httpx.Client]:
    """The real API under uvicorn (access log on, as `outreach api`), the SDK on the emulator."""
    from outreach.main import create_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OUTREACH_CALLBACK_KEY", KEY)
        get_settings.cache_clear()
        url = serve(create_app(), log_level="info")
        # uvicorn set its own handlers up after ours were installed: capture those too.
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).addHandler(captured)
        try:
            with httpx.Client(base_url=url, timeout=20) as client:
                yield client
        finally:
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
                logging.getLogger(name).removeHandler(captured)
    get_settings.cache_clear()


def _callback(api: httpx.Client, path: str, form: dict[str, str]) -> httpx.Response:
    response = api.post(path, params={"key": KEY}, data=form)
    assert response.status_code == 200, response.text
    return response


def _console_login(api: httpx.Client, email: str, password: str) -> None:
    page = api.get("/console/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    done = api.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
    )
    assert done.status_code in (200, 303), done.text


def test_a_full_run_logs_no_name_number_or_body(
    api: httpx.Client, captured: Capture, chw, db, staff: dict[str, dict[str, str]]
) -> None:
    from outreach.inbound.models import InboundMessage
    from outreach.outbox.models import OutboundMessage, addressed_to
    from outreach.registry.models import Beneficiary, Phone, has_number
    from workers import campaigns as campaign_tasks
    from workers import outbox as outbox_tasks

    # Given a CHW registering a woman by USSD, through a bad input and the real callback
    def hops(session_id: str, steps: list[str]) -> str:
        reply = ""
        for n in range(len(steps) + 1):
            form = {
                "sessionId": session_id,
                "serviceCode": "*384*123#",
                "phoneNumber": "+22370000001",
                "networkCode": "99999",
                "text": "*".join(steps[:n]),
            }
            reply = _callback(api, "/callbacks/at/ussd", form).text
        return reply

    assert hops("ATUid_logs_0", ["12"]).startswith("CON ")  # not a PIN: asked again
    steps = ["1234", "1", f"{FIRST} {LAST}", "1", "7856123", NATIONAL]
    steps += ["2", "12", "1", "1", "2", "1", "1"]
    assert hops("ATUid_logs_1", steps).startswith("END Inscrite")
    woman = db.exec(select(Beneficiary)).one()
    # And her welcome SMS and the day's programme messages sent through the emulator
    from outreach.programmes import tasks as programme_tasks

    programme_tasks.fan_out.apply()
    outbox_tasks.drain.apply()
    db.expire_all()
    welcome = db.exec(select(OutboundMessage).where(addressed_to(E164))).first()
    assert welcome is not None and welcome.gateway_message_id
    # And AT's delivery report for it
    _callback(
        api,
        "/callbacks/at/delivery",
        {
            "id": welcome.gateway_message_id,
            "status": "Success",
            "phoneNumber": E164,
            "networkCode": "61001",
        },
    )
    # And her reply by SMS, answered automatically
    _callback(
        api,
        "/callbacks/at/sms",
        {"id": "ATSMS_logs_1", "from": E164, "to": "36222", "text": REPLY, "date": "2026-11-22"},
    )
    outbox_tasks.drain.apply()
    # And a campaign with {prenom} to her village, through the API, materialised and sent
    body = {
        "name": "Vaccination jeudi",
        "texts": {"fr": CAMPAIGN, "bm": CAMPAIGN},
        "audience": {"site_ids": [woman.village_id]},
    }
    cid = api.post("/api/v1/campaigns", json=body, headers=staff["officer"]).json()["id"]
    for step, role in (("submit", "officer"), ("approve", "manager"), ("start", "manager")):
        answer = api.post(f"/api/v1/campaigns/{cid}/{step}", headers=staff[role])
        assert answer.status_code < 300, answer.text
    campaign_tasks.materialise.apply(args=[cid])
    outbox_tasks.drain.apply()
    # And staff searching for her in the API and the console, and opening her page
    found = api.get("/api/v1/beneficiaries", params={"q": FIRST}, headers=staff["viewer"]).json()
    assert found["total"] == 1
    _console_login(api, "officer@ong.ml", "segou-2026")
    assert FIRST in api.get("/console/beneficiaries", params={"q": f"{FIRST} {LAST}"}).text
    assert FIRST in api.get(f"/console/beneficiaries/{woman.id}").text
    assert api.get("/console/beneficiaries", params={"q": NATIONAL}).status_code == 200
    # And errors: a callback with a wrong key, and a request the API refuses
    wrong = api.post(
        "/callbacks/at/sms", params={"key": "faux"}, data={"id": "x", "from": E164, "text": REPLY}
    )
    assert wrong.status_code == 403
    refused = api.get(
        "/api/v1/beneficiaries", params={"q": FIRST, "limit": "tous"}, headers=staff["viewer"]
    )
    assert refused.status_code == 422
    # And finally she sends STOP
    _callback(
        api,
        "/callbacks/at/sms",
        {"id": "ATSMS_logs_2", "from": E164, "to": "36222", "text": "STOP", "date": "2026-11-22"},
    )
    outbox_tasks.drain.apply()
    # And AT's own opt-out notice for the number, as its bulk-SMS opt-out sends it
    _callback(api, "/callbacks/at/optout", {"phoneNumber": E164, "senderId": "OUTREACH"})
    db.expire_all()
    phone = db.exec(select(Phone).where(has_number(E164))).one()
    assert phone.opted_out_at is not None
    assert db.exec(select(InboundMessage)).all()

    # Then the run did log (requests, hops, sends), in JSON with context fields
    logged = "\n".join(captured.lines)
    json_lines = [json.loads(line) for line in captured.lines if line.startswith('{"ts"')]
    assert len(json_lines) > 30, logged
    assert any(j["logger"] == "uvicorn.access" for j in json_lines)
    assert any(j["logger"].startswith("outreach.ussd") for j in json_lines)
    assert any("request_id" in j for j in json_lines)
    assert any(j.get("task") == "campaigns.materialise" and j.get("task_id") for j in json_lines)
    assert "callback refused: bad or missing key" in logged
    # And none of it names her, carries her number in any form, or a message body
    sent = db.exec(select(OutboundMessage).where(addressed_to(E164))).all()
    assert {m.kind for m in sent} >= {"campaign", "reply"}, [m.kind for m in sent]
    bodies = [m.body for m in sent] + [REPLY, CAMPAIGN.replace("{prenom}", FIRST)]
    forbidden = [FIRST, LAST, REPLY, "Kouroukoro", "Tiéfinzan", "faux", KEY]
    forbidden += [b for b in bodies if b] + [b[:25] for b in bodies if b]
    for secret in forbidden:
        assert secret.casefold() not in logged.casefold(), secret
    number = re.compile(r"\D{0,3}".join(NATIONAL))
    assert not number.search(logged), number.search(logged)
    assert "%2B223" + NATIONAL not in logged

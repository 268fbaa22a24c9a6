"""The Africa's Talking emulator, driven through the real SDK adapter over HTTP."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from outreach.config import Settings
from outreach.gateways.africastalking import AfricasTalkingGateway
from outreach.gateways.base import GatewayAmbiguousError, GatewayError
from outreach.gateways.emulator import create_app

API_KEY = "test-api-key"
MESSAGE_ID = re.compile(r"^ATXid_[0-9a-f]{32}$")
AWA = "+22370000001"
MOUSSA = "+22370000002"
FATOUMATA = "+22370000003"


@dataclass
class Receiver:
    """Our side of delivery reports: records every attempt, can refuse the first few."""

    url: str = ""
    fail_first: int = 0
    attempts: int = 0
    reports: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.reports) >= count:
                    return list(self.reports)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} delivery reports, got {self.reports}")


@pytest.fixture
def receiver(serve: Callable[[FastAPI], str]) -> Receiver:
    state = Receiver()
    app = FastAPI()

    @app.post("/dlr")
    async def dlr(request: Request) -> Response:
        form = await request.form()
        with state.lock:
            state.attempts += 1
            if state.attempts <= state.fail_first:
                return Response(status_code=500)
            state.reports.append({key: str(value) for key, value in form.items()})
        return Response(status_code=200)

    state.url = serve(app) + "/dlr"
    return state


@dataclass
class Emulator:
    url: str

    def gateway(self, read_timeout: float = 3.0) -> AfricasTalkingGateway:
        return AfricasTalkingGateway(
            username="sandbox",
            api_key=API_KEY,
            base_url=f"{self.url}/version1",
            timeout=(1.0, read_timeout),
        )

    def post_messaging(
        self, data: dict[str, str], *, api_key: str | None = API_KEY
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if api_key is not None:
            headers["apiKey"] = api_key
        return httpx.post(f"{self.url}/version1/messaging", data=data, headers=headers)

    def ledger(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/emulator/ledger")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def messages(self, number: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/emulator/messages", params={"to": number})
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    def wait_for_delivery(self, number: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.messages(number)[0]
            if entry["delivery_status"] is not None:
                return entry
            time.sleep(0.02)
        raise AssertionError(f"ledger never recorded a delivery for {number}")


@pytest.fixture
def emulator(serve: Callable[[FastAPI], str]) -> Callable[..., Emulator]:
    def start(**overrides: Any) -> Emulator:
        values: dict[str, Any] = {
            "emulator_delivery_url": "",
            "emulator_delivery_delay_seconds": 0.05,
            "emulator_seed": 1,
        }
        values.update(overrides)
        return Emulator(serve(create_app(Settings(**values))))

    return start


def test_success_returns_cost_message_id_and_exact_content_type(
    emulator: Callable[..., Emulator],
) -> None:
    # given an emulator billing 25 XOF per segment
    emu = emulator(emulator_price_per_segment=25.0, emulator_currency="XOF")
    # when a two-part message goes through the SDK adapter
    [result] = emu.gateway().send(message="a" * 200, recipients=[AWA], sender_id="SANTE")
    # then AT's answer maps to an accepted recipient with an id and the cost of 2 parts
    assert result.accepted
    assert (result.number, result.status_code, result.status) == (AWA, 101, "Success")
    assert result.message_id is not None and MESSAGE_ID.match(result.message_id)
    assert (result.cost, result.currency) == (Decimal("50.0000"), "XOF")
    [entry] = emu.messages(AWA)
    assert entry["message_id"] == result.message_id
    assert (entry["segments"], entry["cost"], entry["sender_id"]) == (2, "XOF 50.0000", "SANTE")
    assert entry["timed_out"] is False and entry["delivery_status"] is None

    # when the same call is made by hand
    raw = emu.post_messaging({"username": "sandbox", "to": MOUSSA, "message": "Bonjour"})
    # then it is a 201 whose content type the SDK decodes as JSON
    assert raw.status_code == 201
    assert raw.headers["content-type"] == "application/json"
    data = raw.json()["SMSMessageData"]
    assert data["Message"] == "Sent to 1/1 Total Cost: XOF 25.0000"


def test_invalid_number_is_refused_per_recipient(emulator: Callable[..., Emulator]) -> None:
    # given an emulator and a number the SDK itself would reject before sending
    emu = emulator()
    # when it is posted together with a valid one
    raw = emu.post_messaging(
        {"username": "sandbox", "to": f"{AWA},70000001", "message": "Rappel vaccination"}
    )
    # then only that recipient gets 403 with no cost and no id, the other is accepted
    assert raw.status_code == 201
    recipients = {r["number"]: r for r in raw.json()["SMSMessageData"]["Recipients"]}
    assert recipients["70000001"] == {
        "statusCode": 403,
        "number": "70000001",
        "status": "InvalidPhoneNumber",
        "cost": "0",
        "messageId": "None",
    }
    assert recipients[AWA]["statusCode"] == 101
    assert raw.json()["SMSMessageData"]["Message"].startswith("Sent to 1/2 ")
    assert emu.ledger()["accepted"] == 1


def test_configured_blacklist_is_refused_per_recipient(emulator: Callable[..., Emulator]) -> None:
    # given a number configured as having blocked our sender
    emu = emulator(emulator_recipient_status={AWA: 406})
    # when we send to it through the adapter
    [result] = emu.gateway().send(message="Bonjour", recipients=[AWA])
    # then the call succeeds but that recipient is refused, unbilled and unrecorded
    assert (result.status_code, result.status, result.accepted) == (406, "UserInBlacklist", False)
    assert result.message_id is None
    assert emu.messages(AWA) == []


def test_many_recipients_map_back_per_number(emulator: Callable[..., Emulator]) -> None:
    # given three recipients, one of them out of credit, one queued
    emu = emulator(emulator_recipient_status={MOUSSA: 405, FATOUMATA: 102})
    # when one call sends to all three
    results = emu.gateway().send(message="Bonjour", recipients=[AWA, MOUSSA, FATOUMATA])
    # then every number gets its own outcome and distinct ids
    by_number = {r.number: r for r in results}
    assert {n: r.status_code for n, r in by_number.items()} == {
        AWA: 101,
        MOUSSA: 405,
        FATOUMATA: 102,
    }
    assert by_number[MOUSSA].status == "InsufficientBalance"
    assert by_number[FATOUMATA].status == "Queued" and by_number[FATOUMATA].accepted
    assert by_number[AWA].message_id != by_number[FATOUMATA].message_id
    assert {m["number"] for m in emu.ledger()["messages"]} == {AWA, FATOUMATA}
    # and the ledger tells which recipients travelled in the same call
    first_call = {m["call_id"] for m in emu.ledger()["messages"]}
    emu.gateway().send(message="Bonjour", recipients=[AWA])
    second_call = {m["call_id"] for m in emu.ledger()["messages"]} - first_call
    assert len(first_call) == 1 and len(second_call) == 1


def test_server_errors_raise_a_certain_failure(emulator: Callable[..., Emulator]) -> None:
    # given an emulator that always answers 5xx
    emu = emulator(emulator_fail_5xx_ratio=1.0)
    # when the adapter sends
    with pytest.raises(GatewayError) as caught:
        emu.gateway().send(message="Bonjour", recipients=[AWA])
    # then it is a plain failure, not an ambiguous one, and nothing was accepted
    assert not isinstance(caught.value, GatewayAmbiguousError)
    assert emu.ledger() == {"accepted": 0, "messages": []}


def test_timeouts_are_ambiguous_and_sometimes_accepted(emulator: Callable[..., Emulator]) -> None:
    # given an emulator that always hangs longer than the adapter waits; with this
    # seed some hung calls were accepted before hanging and some were not
    emu = emulator(emulator_timeout_ratio=1.0, emulator_timeout_seconds=1.0, emulator_seed=6)
    gateway = emu.gateway(read_timeout=0.3)
    numbers = [f"+2237100000{i}" for i in range(4)]
    # when the adapter sends to each number in turn
    for number in numbers:
        with pytest.raises(GatewayAmbiguousError):
            gateway.send(message="Bonjour", recipients=[number])
    # then only some were recorded, all flagged as timed out
    recorded = emu.ledger()["messages"]
    assert 0 < len(recorded) < len(numbers)
    assert all(m["timed_out"] is True for m in recorded)


def test_delivery_report_reaches_our_callback(
    emulator: Callable[..., Emulator], receiver: Receiver
) -> None:
    # given an emulator reporting deliveries to our receiver
    emu = emulator(emulator_delivery_url=receiver.url)
    # when a message is accepted
    [result] = emu.gateway().send(message="Bonjour", recipients=[AWA])
    # then AT's delivery report form arrives and the ledger records it
    [report] = receiver.wait_for(1)
    assert report == {
        "id": result.message_id,
        "status": "Success",
        "phoneNumber": AWA,
        "networkCode": "61002",
        "retryCount": "0",
    }
    entry = emu.wait_for_delivery(AWA)
    assert (entry["delivery_status"], entry["failure_reason"]) == ("Success", None)


def test_configured_failed_delivery_carries_a_reason(
    emulator: Callable[..., Emulator], receiver: Receiver
) -> None:
    # given a number whose handset will never receive the message
    emu = emulator(
        emulator_delivery_url=receiver.url,
        emulator_delivery_status={MOUSSA: "Failed:DeliveryFailure"},
    )
    # when messages go to that number and to a healthy one
    results = emu.gateway().send(message="Bonjour", recipients=[AWA, MOUSSA])
    # then that report says Failed with its reason, the other one Success without one
    reports = {r["phoneNumber"]: r for r in receiver.wait_for(2)}
    assert reports[MOUSSA]["status"] == "Failed"
    assert reports[MOUSSA]["failureReason"] == "DeliveryFailure"
    assert reports[MOUSSA]["id"] == next(r.message_id for r in results if r.number == MOUSSA)
    assert "failureReason" not in reports[AWA]
    entry = emu.wait_for_delivery(MOUSSA)
    assert (entry["delivery_status"], entry["failure_reason"]) == ("Failed", "DeliveryFailure")


def test_delivery_report_is_retried_until_accepted(
    emulator: Callable[..., Emulator], receiver: Receiver
) -> None:
    # given a callback that fails its first attempt
    receiver.fail_first = 1
    emu = emulator(emulator_delivery_url=receiver.url)
    # when a message is accepted
    emu.gateway().send(message="Bonjour", recipients=[AWA])
    # then the report is sent again and the ledger updated once it lands
    receiver.wait_for(1)
    assert receiver.attempts == 2
    assert emu.wait_for_delivery(AWA)["delivery_status"] == "Success"


def test_missing_api_key_or_field_is_refused(emulator: Callable[..., Emulator]) -> None:
    # given an emulator
    emu = emulator()
    form = {"username": "sandbox", "to": AWA, "message": "Bonjour"}
    # when a call comes without an apiKey header, or without a message
    unauthenticated = emu.post_messaging(form, api_key=None)
    incomplete = emu.post_messaging({"username": "sandbox", "to": AWA})
    # then AT's plain-text errors come back and nothing is recorded
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["content-type"].startswith("text/plain")
    assert incomplete.status_code == 400
    assert "message" in incomplete.text
    assert emu.ledger()["accepted"] == 0


def test_messages_are_filtered_by_number_newest_first(emulator: Callable[..., Emulator]) -> None:
    # given three messages to two numbers
    emu = emulator()
    gateway = emu.gateway()
    gateway.send(message="premier", recipients=[AWA])
    gateway.send(message="autre", recipients=[MOUSSA])
    gateway.send(message="second", recipients=[AWA])
    # when Awa's messages are listed, also with an unencoded "+" in the query
    listed = emu.messages(AWA)
    raw = httpx.get(f"{emu.url}/emulator/messages?to={AWA}").json()["messages"]
    # then only hers come back, newest first
    assert [m["message"] for m in listed] == ["second", "premier"]
    assert raw == listed
    assert len(httpx.get(f"{emu.url}/emulator/ledger", params={"limit": 1}).json()["messages"]) == 1


def test_ledger_file_survives_clearing_memory(
    emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    # given a ledger file in a directory that does not exist yet
    path = tmp_path / "chaos" / "ledger.jsonl"
    emu = emulator(emulator_ledger_path=str(path))
    # when two calls are accepted and the in-memory ledger is then cleared
    emu.gateway().send(message="Bonjour", recipients=[AWA, MOUSSA])
    emu.gateway().send(message="Au revoir", recipients=[AWA])
    cleared = httpx.delete(f"{emu.url}/emulator/ledger").json()
    # then memory is empty but every acceptance is still a line in the file
    assert cleared == {"cleared": 3}
    assert emu.ledger()["accepted"] == 0
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(m["number"], m["message"]) for m in lines] == [
        (AWA, "Bonjour"),
        (MOUSSA, "Bonjour"),
        (AWA, "Au revoir"),
    ]
    assert all(MESSAGE_ID.match(m["message_id"]) for m in lines)


def test_faults_change_at_run_time(emulator: Callable[..., Emulator]) -> None:
    # given a healthy emulator
    emu = emulator()
    gateway = emu.gateway()
    # when every call is set to fail and a number to be blacklisted
    changed = httpx.post(
        f"{emu.url}/emulator/faults",
        json={"fail_5xx_ratio": 1.0, "recipient_status": {MOUSSA: 406}},
    )
    # then the change shows and takes effect at once
    assert changed.status_code == 200
    assert httpx.get(f"{emu.url}/emulator/faults").json()["fail_5xx_ratio"] == 1.0
    with pytest.raises(GatewayError):
        gateway.send(message="Bonjour", recipients=[AWA])

    # when failures are switched off again
    httpx.post(f"{emu.url}/emulator/faults", json={"fail_5xx_ratio": 0.0})
    results = {
        r.number: r.status_code for r in gateway.send(message="Bonjour", recipients=[AWA, MOUSSA])
    }
    # then sends succeed and the other fault is still in place
    assert results == {AWA: 101, MOUSSA: 406}
    bad = httpx.post(f"{emu.url}/emulator/faults", json={"recipient_status": {AWA: 999}})
    assert bad.status_code == 422
    assert httpx.get(f"{emu.url}/health").json() == {"status": "ok"}

"""Every operation of the OpenAPI schema, fuzzed from the schema itself, signed in as an admin.

Generated requests (valid and invalid ones) go through the real app in process; every
answer must be below 500 and, where the schema describes the answer, conform to it.
The normal suite runs a few cases per operation; the full run is

    SCHEMA_FUZZ_EXAMPLES=120 .venv/bin/python -m pytest tests/test_api_schema_fuzz.py -p no:randomly

(about 11,000 cases; the counts are printed at the end of the module).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from sqlalchemy import text, update
from sqlmodel import Session, SQLModel, select

from outreach.accounts import service as accounts_service
from outreach.accounts.models import Role, StaffUser
from outreach.accounts.security import hash_password
from outreach.chws import service as chw_service
from outreach.cli import _seed_demo
from outreach.db import get_engine
from outreach.inbound import service as inbound_service
from outreach.inbound.schemas import IncomingSms
from outreach.main import create_app
from outreach.redis import get_redis
from outreach.registry import service as registry_service
from outreach.registry.models import PhoneKind

EXAMPLES = int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "0"))
# The app serves its schema only to signed-in staff: take it from the app itself.
schema = schemathesis.openapi.from_dict(create_app().openapi())
if not EXAMPLES:
    # The normal suite: two generated cases per operation. The coverage phase (every
    # boundary and every wrong method the schema implies, thousands of cases) is the
    # full run's.
    schema.config.phases.update(phases=["examples", "fuzzing"])

# What the module saw, printed at its end: the figures of the full run come from here.
TALLY: dict[str, Counter[str]] = {"cases": Counter(), "status": Counter()}


@pytest.fixture(scope="module", autouse=True)
def tally(pytestconfig: pytest.Config) -> Iterator[None]:
    started = time.monotonic()
    yield
    statuses = TALLY["status"]
    server_errors = sum(n for code, n in statuses.items() if code.startswith("5"))
    # Past pytest's capture: the full run's figures are read from this line.
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(
            f"\nschema fuzz: {sum(TALLY['cases'].values())} cases over {len(TALLY['cases'])} "
            f"operations in {time.monotonic() - started:.0f} s; 5xx: {server_errors}; "
            f"statuses: {dict(sorted(statuses.items()))}"
        )


def _wipe() -> None:
    # This module shares one world between its operations (seeding per test would cost
    # more than the cases): it starts from, and leaves, an empty database as `db` does.
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with get_engine().begin() as conn:
        for name in tables:
            conn.execute(text(f"DELETE FROM {name}"))  # noqa: S608 - our own table names
    redis = get_redis()
    # The per-test keys only, as `db` clears them: never the broker's.
    patterns = ("ussd:*", "outreach:inbound:*", "outreach:login:*", "outreach:console:*",
                "outreach:reports:*", "outreach:preflight:*")  # fmt: skip
    keys = [k for p in patterns for k in redis.scan_iter(p)]
    if keys:
        redis.delete(*keys)


@pytest.fixture(scope="module")
def world(migrated: None) -> Iterator[None]:
    """Sites, the demo CHW, a woman, one of her replies and an admin, for every operation."""
    _wipe()
    with Session(get_engine()) as db:
        _seed_demo(db)
        db.commit()
        chw = chw_service.get_by_phone(db, e164="+22370000001")
        assert chw is not None
        registry_service.register_pregnancy(
            db, name="Awa Traore", phone="+22370123456", weeks=20, chw_id=chw.id,
            village_id=None, phone_kind=PhoneKind.OWN,
        )  # fmt: skip
        inbound_service.receive(
            db,
            sms=IncomingSms.model_validate(
                {"id": "ATXid_fuzz_1", "from": "+22370123456", "text": "Merci"}
            ),
        )
        db.add(StaffUser(email=ADMIN, name="Admin", role=Role.admin.value,
                         password_hash=hash_password("segou-2026")))  # fmt: skip
        db.commit()
    yield
    _wipe()


@pytest.fixture(scope="module")
def api(world: None) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


ADMIN = "admin@ong.ml"
_token: dict[str, str] = {}


def admin_headers(after: str | None) -> dict[str, str]:
    """The admin's token; a new one, the admin restored, after a case that may have
    logged her out, demoted or deactivated her."""
    if _token and after is not None and "/auth/" not in after and "/users" not in after:
        return _token
    with Session(get_engine()) as session:
        session.execute(
            update(StaffUser)
            .where(StaffUser.email == ADMIN)  # type: ignore[arg-type]
            .values(active=True, role=Role.admin.value)
        )
        user = session.exec(select(StaffUser).where(StaffUser.email == ADMIN)).one()
        token = accounts_service.issue_token(session, user=user, name="fuzz")
        session.commit()
    _token.clear()
    _token["Authorization"] = f"Bearer {token}"
    return _token


_last: list[str] = []


@schema.parametrize()
@settings(
    max_examples=EXAMPLES or 2,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_below_500_and_as_documented(case, api) -> None:
    # Given an admin signed in with a valid token
    headers = {**(case.headers or {}), **admin_headers(_last[-1] if _last else None)}
    _last[:] = [case.operation.label]
    # When the generated request is sent to the app
    response = api.request(**case.as_transport_kwargs(headers=headers))
    TALLY["cases"][case.operation.label] += 1
    TALLY["status"][str(response.status_code)] += 1
    # Then it is not a server error, and its body matches the schema where one is given
    case.validate_response(
        response, checks=[not_a_server_error, response_schema_conformance], headers=headers
    )

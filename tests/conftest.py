"""Shared fixtures.

The back end is chosen by the environment, as in production: with
OUTREACH_DATABASE_URL / OUTREACH_REDIS_URL unset, the suite runs on a temporary
SQLite file and an embedded Redis; `scripts/test.sh` runs it again with both set
to PostgreSQL and Redis.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from redis import Redis

_TMP = Path(tempfile.mkdtemp(prefix="outreach-tests-"))
os.environ["OUTREACH_ENV"] = "test"
os.environ.setdefault("OUTREACH_DATABASE_URL", f"sqlite:///{_TMP / 'test.db'}")
os.environ["OUTREACH_SECRET_KEY"] = "test-secret-key-not-for-production"
os.environ.pop("OUTREACH_CALLBACK_KEY", None)
os.environ["OUTREACH_SEND_BACKOFF_SECONDS"] = "0.05"
os.environ["OUTREACH_SEND_BACKOFF_MAX_SECONDS"] = "0.2"

_EMBEDDED = None
if not os.environ.get("OUTREACH_REDIS_URL"):
    from outreach.embedded_redis import EmbeddedRedis

    _EMBEDDED = EmbeddedRedis(_TMP / "redis")
    os.environ["OUTREACH_REDIS_URL"] = _EMBEDDED.start()

from sqlalchemy import text  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402
from sqlmodel import Session, SQLModel  # noqa: E402

from outreach import models  # noqa: E402, F401
from outreach.config import get_settings  # noqa: E402
from outreach.db import get_engine  # noqa: E402
from outreach.embedded_redis import free_port  # noqa: E402
from outreach.migrate import upgrade  # noqa: E402
from outreach.redis import get_redis  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI") == "true"
CHROMIUM = Path("/usr/bin/chromium")


def pytest_report_header(config: pytest.Config) -> str:
    settings = get_settings()
    backend = "postgresql" if not settings.is_sqlite else "sqlite"
    redis_kind = "embedded" if _EMBEDDED else "server"
    return f"outreach back end: {backend} + redis ({redis_kind})"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _EMBEDDED is not None:
        _EMBEDDED.stop()
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated() -> None:
    """A database at the latest migration, created fresh for this run."""
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade()


def _truncate() -> None:
    # The real-process stack's worker may still be finishing a test's last task: a
    # deadlock with it is retried once the worker's transaction has ended.
    for attempt in range(5):
        try:
            _delete_everything()
            return
        except OperationalError as exc:
            if attempt == 4 or "deadlock" not in str(exc).lower():
                raise
            time.sleep(0.5)


def _delete_everything() -> None:
    engine = get_engine()
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        # DELETE, children first, rather than TRUNCATE: TRUNCATE rewrites every table's
        # files (about 100 ms for all of them on PostgreSQL), twice per test.
        for name in tables:
            conn.execute(text(f"DELETE FROM {name}"))  # noqa: S608 - our own table names
        if engine.dialect.name == "postgresql":
            # Ids start again at 1 in every test, as TRUNCATE ... RESTART IDENTITY did.
            conn.execute(
                text(
                    "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c WHERE c.relkind = 'S'"
                )
            )


@pytest.fixture
def db(migrated: None) -> Iterator[Session]:
    """A session on a clean database; the test decides when to commit."""
    _truncate()
    _clear_per_test_redis_keys()
    # On SQLite, autocommit per statement: the test sees what the API and workers commit.
    engine = get_engine().execution_options(sqlite_begin=None)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    _truncate()


# Per-test state kept in Redis: USSD sessions, reply budgets, login throttles, console
# sessions and the dashboard's cache. Left over, a reply budget spent by one test
# silences the next test's reply to the same number.
_PER_TEST_KEYS = (
    "ussd:*",
    "outreach:inbound:*",
    "outreach:login:*",
    "outreach:console:*",
    "outreach:reports:*",
    "outreach:preflight:*",
)


def _clear_per_test_redis_keys() -> None:
    # Not FLUSHDB: that would also drop the broker's queue bindings under a live worker.
    redis = get_redis()
    keys = [key for pattern in _PER_TEST_KEYS for key in redis.scan_iter(pattern)]
    if keys:
        redis.delete(*keys)


def _sibling_redis_db(url: str) -> str:
    """The same Redis server, next database: the stack's worker never sees unit tests' wake-ups."""
    base, _, db_index = url.rpartition("/")
    index = int(db_index) if db_index.isdigit() else 0
    return f"{base}/{index - 1 if index >= 15 else index + 1}"


def poll_until(predicate, *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll until `predicate()` is truthy; returns its value or fails with `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def wait_for():
    """`wait_for(predicate, timeout=..., what=...)`: poll until truthy, else fail."""
    return poll_until


@dataclass
class Stack:
    """Real processes: API, Celery worker and emulator, on free ports."""

    api_url: str
    emulator_url: str
    redis_url: str
    procs: dict[str, subprocess.Popen[bytes]]
    log_dir: Path

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
            for p in self.log_dir.glob("*.log")
        )


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@pytest.fixture(scope="session")
def stack(migrated: None) -> Iterator[Stack]:
    """Start the API, a worker and the emulator as separate processes, as in production."""
    api_port, emulator_port = free_port(), free_port()
    log_dir = _TMP / "stack-logs"
    log_dir.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        OUTREACH_API_PORT=str(api_port),
        OUTREACH_EMULATOR_PORT=str(emulator_port),
        OUTREACH_EMULATOR_DELIVERY_URL=f"http://127.0.0.1:{api_port}/callbacks/at/delivery",
        OUTREACH_EMULATOR_DELIVERY_DELAY_SECONDS="0.1",
        OUTREACH_REDIS_URL=_sibling_redis_db(os.environ["OUTREACH_REDIS_URL"]),
        PYTHONUNBUFFERED="1",
    )
    commands = {
        "emulator": ["emulator", "--port", str(emulator_port)],
        "api": ["api", "--port", str(api_port)],
        "worker": ["worker", "--concurrency", "2"],
    }
    # The stack's own Redis database starts empty: no session or task from an earlier run.
    Redis.from_url(env["OUTREACH_REDIS_URL"]).flushdb()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, args in commands.items():
        log = (log_dir / f"{name}.log").open("wb")
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "outreach", *args],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    result = Stack(
        api_url=f"http://127.0.0.1:{api_port}",
        emulator_url=f"http://127.0.0.1:{emulator_port}",
        redis_url=env["OUTREACH_REDIS_URL"],
        procs=procs,
        log_dir=log_dir,
    )
    try:
        _wait_http(f"{result.emulator_url}/health", procs["emulator"])
        _wait_http(f"{result.api_url}/health", procs["api"])
        yield result
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's chromium, headless; never a downloaded browser."""
    if not CHROMIUM.exists():
        if CI:
            pytest.fail("CI=true but /usr/bin/chromium is missing: `make test` installs it as root")
        pytest.skip("/usr/bin/chromium is missing (install Debian's chromium to run browser tests)")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


def _serve_in_thread(
    app: Any, log_level: str = "warning"
) -> tuple[uvicorn.Server, threading.Thread, str]:
    # Binding before starting leaves no window for another process to take the port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level=log_level, lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """`serve(app)`: run an ASGI app under uvicorn in a thread; returns its base URL."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: Any, log_level: str = "warning") -> str:
        server, thread, url = _serve_in_thread(app, log_level)
        running.append((server, thread))
        return url

    yield start
    for server, _ in running:
        server.should_exit = True
    for _, thread in running:
        thread.join(timeout=5)


@pytest.fixture
def emulator_url(serve: Callable[..., str]) -> Iterator[str]:
    """The gateway emulator under uvicorn, without delivery reports (a test posts its
    own); the SDK pointed at it, every send window open, the rate limit and wake-up
    flag cleared. Returns the emulator's base URL."""
    from outreach.config import Settings
    from outreach.gateways.emulator import create_app as create_emulator
    from outreach.gateways.factory import get_gateway
    from outreach.outbox import service as outbox
    from outreach.outbox.ratelimit import get_bucket

    def reset() -> None:
        get_settings.cache_clear()
        get_gateway.cache_clear()
        get_bucket.cache_clear()

    url = serve(create_emulator(Settings(emulator_delivery_url="")))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OUTREACH_AT_BASE_URL", f"{url}/version1")
        # The suite runs at any hour: quiet hours would hold what a test sends.
        patch.setenv("OUTREACH_SEND_WINDOW", "00:00-24:00")
        patch.setenv(
            "OUTREACH_SEND_WINDOW_BY_KIND",
            json.dumps({k: "00:00-24:00" for k in ("reply", "campaign", "programme")}),
        )
        reset()
        get_redis().delete(get_bucket().key, outbox.WAKE_KEY)
        yield url
    reset()


CHW_PHONE = "+22370000001"
CHW_PIN = "1234"


@pytest.fixture
def chw(db: Session):
    """The demo CHW on +22370000001 with PIN 1234, covering three villages of Ségou."""
    from outreach.chws import service as chw_service
    from outreach.cli import _seed_demo

    _seed_demo(db)
    db.commit()
    found = chw_service.get_by_phone(db, e164=CHW_PHONE)
    assert found is not None
    return found


WOMAN_PHONE = "+22370123456"


@pytest.fixture
def woman(chw, db: Session):
    """Awa Traore, 20 weeks pregnant, on her own phone +22370123456, followed by the demo CHW."""
    from outreach.registry import service as registry_service
    from outreach.registry.models import PhoneKind

    registration = registry_service.register_pregnancy(
        db,
        name="Awa Traore",
        phone=WOMAN_PHONE,
        weeks=20,
        chw_id=chw.id,
        village_id=None,
        phone_kind=PhoneKind.OWN,
    )
    db.commit()
    return registration.beneficiary


@pytest.fixture
def client(migrated: None) -> Iterator[object]:
    """An HTTP client on the API app, in process."""
    from fastapi.testclient import TestClient

    from outreach.main import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


class Dialer:
    """Plays Africa's Talking: one USSD session, cumulative `text`, exact form fields."""

    def __init__(self, post, phone: str, session_id: str, service_code: str = "*384*123#") -> None:
        self._post = post
        self.phone = phone
        self.session_id = session_id
        self.service_code = service_code
        self.answers: list[str] = []

    def _send(self, text_: str) -> str:
        response = self._post(
            "/callbacks/at/ussd",
            data={
                "sessionId": self.session_id,
                "serviceCode": self.service_code,
                "phoneNumber": self.phone,
                "networkCode": "99999",
                "text": text_,
            },
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        body = response.text
        assert body.startswith(("CON ", "END ")), body
        assert len(body) <= 160, (len(body), body)
        return body

    def dial(self) -> str:
        self.answers = []
        return self._send("")

    def answer(self, value: str) -> str:
        self.answers.append(value)
        return self._send("*".join(self.answers))

    def replay(self) -> str:
        return self._send("*".join(self.answers))


@pytest.fixture
def dialer(client):
    """A factory of USSD sessions against the in-process API."""
    counter = iter(range(1, 10_000))

    def make(phone: str = CHW_PHONE) -> Dialer:
        return Dialer(client.post, phone, f"ATUid_test_{os.getpid()}_{next(counter)}")

    return make


@functools.cache
def _staff_hash() -> str:
    from outreach.accounts.security import hash_password

    return hash_password(STAFF_PASSWORD)


STAFF_PASSWORD = "segou-2026"


@pytest.fixture
def staff(db: Session) -> dict[str, dict[str, str]]:
    """One account per role, with its API token as request headers: `staff["officer"]`."""
    from outreach.accounts import service as accounts_service
    from outreach.accounts.models import Role, StaffUser

    headers = {}
    for role in Role:
        # One argon2 hash for the whole run: hashing is slow by design.
        user = StaffUser(
            email=f"{role.value}@ong.ml", name=role.value, role=role, password_hash=_staff_hash()
        )
        db.add(user)
        db.flush()
        token = accounts_service.issue_token(db, user=user, name="tests")
        headers[role.value] = {"Authorization": f"Bearer {token}"}
    db.commit()
    return headers

"""Signed-in console clients, one per role."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from console_login import PASSWORD, Staff, login
from fastapi.testclient import TestClient
from sqlmodel import Session

from outreach.accounts import service as accounts
from outreach.accounts.models import Role
from outreach.embedded_redis import EmbeddedRedis, free_port
from outreach.redis import get_redis

ROOT = Path(__file__).resolve().parents[2]


def _clear_auth_keys() -> None:
    redis = get_redis()
    keys = [
        *redis.scan_iter("outreach:login:*"),
        *redis.scan_iter("outreach:console:*"),
        # The dashboard's cache of past days' figures.
        *redis.scan_iter("outreach:reports:*"),
    ]
    if keys:
        redis.delete(*keys)


@pytest.fixture(autouse=True)
def clean_auth_state() -> Iterator[None]:
    """No login failures, console sessions or cached figures left from another test."""
    _clear_auth_keys()
    yield
    _clear_auth_keys()


@pytest.fixture
def staff(db: Session, migrated: None) -> Iterator[Callable[[Role], Staff]]:
    """`staff(Role.officer)`: a signed-in console user of that role, with its own client."""
    from outreach.main import create_app

    clients: list[TestClient] = []

    def make(role: Role) -> Staff:
        user = accounts.create_user(
            db, email=f"{role.value}@ong.ml", name=f"Awa {role.value}", role=role, password=PASSWORD
        )
        db.commit()
        client = TestClient(create_app())
        client.__enter__()
        clients.append(client)
        assert login(client, user.email).status_code == 303
        browser = Staff(client, user)
        browser.get("/console")
        return browser

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@dataclass
class ConsoleStack:
    """API, worker and emulator processes for the console's browser tests."""

    api_url: str
    procs: dict[str, subprocess.Popen[bytes]]
    log_dir: Path

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in self.log_dir.glob("*.log")
        )


def _wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
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


@pytest.fixture(scope="module")
def console_stack(
    migrated: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleStack]:
    """Like the shared `stack`, but sending at any hour and slowly (2 SMS a second), so a
    campaign can be watched, and cancelled halfway, whatever time the suite runs."""
    api_port, emulator_port = free_port(), free_port()
    log_dir = tmp_path_factory.mktemp("console-stack")
    # A Redis server of its own: no queue, wake-up or rate-limit token shared with the
    # suite's other process stack or with another database index on a shared server.
    redis = EmbeddedRedis(log_dir / "redis")
    env = dict(os.environ)
    env.update(
        OUTREACH_API_PORT=str(api_port),
        OUTREACH_EMULATOR_PORT=str(emulator_port),
        OUTREACH_EMULATOR_DELIVERY_URL=f"http://127.0.0.1:{api_port}/callbacks/at/delivery",
        OUTREACH_EMULATOR_DELIVERY_DELAY_SECONDS="0.1",
        OUTREACH_SEND_WINDOW="00:00-24:00",
        OUTREACH_SEND_RATE_PER_SECOND="2",
        OUTREACH_REDIS_URL=redis.start(),
        PYTHONUNBUFFERED="1",
    )
    commands = {
        "emulator": ["emulator", "--port", str(emulator_port)],
        "api": ["api", "--port", str(api_port)],
        "worker": ["worker", "--concurrency", "2"],
    }
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
    try:
        _wait_up(f"http://127.0.0.1:{emulator_port}/health", procs["emulator"])
        _wait_up(f"http://127.0.0.1:{api_port}/health", procs["api"])
        yield ConsoleStack(api_url=f"http://127.0.0.1:{api_port}", procs=procs, log_dir=log_dir)
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        redis.stop()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests after every other test of the session.

    Playwright's sync API keeps an asyncio loop running on the main thread from the
    first browser test to the end of the session; a later test that calls
    `asyncio.run` (the USSD burst test) would then fail. Pytest's own grouping of
    parametrized fixtures (`browser_name`) can pull the browser tests forward, so this
    runs last and moves every `browser` test, in its order, to the end.
    """
    in_browser = [item for item in items if item.get_closest_marker("browser")]
    if in_browser:
        rest = [item for item in items if not item.get_closest_marker("browser")]
        items[:] = rest + in_browser

"""Soak: `make run`'s process set under simulated traffic, with RSS and connections sampled.

Starts `outreach run` (what `make run` starts: embedded Redis, API on port 8000, worker,
beat, emulator, demo data) in a scratch directory of its own, so the developer's `var/`
is left alone, then for `--minutes` drives steady traffic at it:

- USSD: CHW registrations as Africa's Talking posts them (cumulative `text`), one hop
  at a time from a few concurrent handsets, each session closed by its end event;
- incoming SMS (a new id each, now and then a replay of an earlier id);
- delivery reports for unknown message ids (the emulator sends the real ones);
- a campaign to everyone, created, submitted, approved and started through the API
  every `--campaign-every` minutes.

Every `--interval` seconds it samples, per piece of the process tree (run, api,
worker, beat, emulator, redis): RSS, open TCP connections and open files; plus the
Redis server's connected clients and the database's connections (PostgreSQL:
`pg_stat_activity`; SQLite: open handles on the database file). At the end it prints
a table, first / last / max per measure, the least-squares slope over the last ten
minutes and a verdict: flat when no RSS grows more than 5% per ten minutes over that
window and no connection count climbs one or more per ten minutes over it or ends more
than two above its maximum of the first ten minutes.

    .venv/bin/python bench/soak.py                 # 30 minutes
    .venv/bin/python bench/soak.py --minutes 2 --interval 10
    .venv/bin/python bench/soak.py --database-url postgresql+psycopg://.../scratch  # wiped
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from outreach.embedded_redis import free_port  # noqa: E402

PIN = "1234"
ROLES = ("api", "worker", "beat", "emulator", "redis", "run")


# --- the process set -------------------------------------------------------------------


def start_run(workdir: Path, env: dict[str, str], api_port: int) -> subprocess.Popen[bytes]:
    log = (workdir / "run.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "outreach",
            "run",
            "--api-port",
            str(api_port),
            "--emulator-port",
            str(free_port()),
        ],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`outreach run` exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up")


def make_staff(workdir: Path, env: dict[str, str], handsets: int) -> dict[str, str]:
    """An officer and a manager with API tokens (campaigns need two people to go out), and
    a CHW per handset."""
    code = (
        f"HANDSETS = {handsets}\n"
        + """
import json
from outreach.accounts import service
from outreach.accounts.models import Role, StaffUser
from outreach.accounts.security import hash_password
from outreach.chws import service as chw_service
from outreach.db import unit_of_work
from outreach.sites.models import Site
tokens = {}
with unit_of_work() as session:
    for role in (Role.officer, Role.manager):
        user = StaffUser(email=f"soak-{role.value}@ong.ml", name=f"Soak {role.value}",
                         role=role, password_hash=hash_password("soak-password-2026"))
        session.add(user)
        session.flush()
        tokens[role.value] = service.issue_token(session, user=user, name="soak")
    # One CHW per handset: a phone runs one session at a time, as in the field.
    for i in range(HANDSETS):
        village = Site(name=f"Soak village {i}", level="village")
        session.add(village)
        session.flush()
        chw_service.add(session, name=f"Soak agent {i}", phone=f"+2237100{i:04d}", pin="1234",
                        site_ids=[village.id])
print(json.dumps(tokens))
"""
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, env=env, check=True, capture_output=True
    )
    return dict(json.loads(out.stdout.decode().strip().splitlines()[-1]))


def role_of(proc: psutil.Process) -> str:
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return "gone"
    if cmd and "redis-server" in cmd[0]:
        return "redis"
    for role in ("api", "worker", "beat", "emulator", "run"):
        if role in cmd[3:5]:
            return role
    # Celery's pool children carry their parent's command line.
    return "worker" if any("celery" in part for part in cmd) else "other"


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def redis_url_of(procs: list[psutil.Process]) -> str | None:
    for proc in procs:
        if role_of(proc) == "redis":
            # redis-server rewrites its command line: read the port it listens on.
            try:
                listening = [c for c in proc.net_connections("tcp") if c.status == "LISTEN"]
            except psutil.Error:
                return None
            if listening:
                return f"redis://127.0.0.1:{listening[0].laddr.port}/0"
    return None


# --- sampling --------------------------------------------------------------------------


@dataclass
class Sample:
    t: float
    rss_mb: dict[str, float]
    tcp: dict[str, int]
    files: dict[str, int]
    processes: int
    redis_clients: int
    db_connections: int
    traffic: dict[str, int]


def sample(
    root: psutil.Process, t: float, database_url: str | None, workdir: Path, traffic: dict[str, int]
) -> Sample:
    procs = tree(root)
    rss = dict.fromkeys(ROLES, 0.0)
    tcp = dict.fromkeys(ROLES, 0)
    files = dict.fromkeys(ROLES, 0)
    db_handles = 0
    for proc in procs:
        role = role_of(proc)
        if role not in rss:
            continue
        try:
            rss[role] += proc.memory_info().rss / 1e6
            tcp[role] += len(proc.net_connections(kind="tcp"))
            opened = proc.open_files()
        except psutil.Error:
            continue
        files[role] += len(opened)
        db_handles += sum(1 for f in opened if f.path.endswith("outreach.db"))
    redis_clients = -1
    url = redis_url_of(procs)
    if url:
        from redis import Redis

        try:
            client = Redis.from_url(url, socket_timeout=5)
            # Our own connection is one of them: not the application's.
            redis_clients = int(client.info("clients")["connected_clients"]) - 1
            client.close()
        except Exception:
            redis_clients = -1
    db_connections = db_handles
    if database_url and database_url.startswith("postgresql"):
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        engine = create_engine(database_url, poolclass=__import__("sqlalchemy").pool.NullPool)
        with engine.connect() as conn:
            db_connections = int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
                        "AND pid <> pg_backend_pid()"
                    ),
                    {"db": make_url(database_url).database},
                ).scalar_one()
            )
        engine.dispose()
    return Sample(t, rss, tcp, files, len(procs), redis_clients, db_connections, dict(traffic))


# --- traffic ---------------------------------------------------------------------------


@dataclass
class Traffic:
    counts: dict[str, int] = field(
        default_factory=lambda: {
            "ussd_hops": 0,
            "registrations": 0,
            "sms": 0,
            "reports": 0,
            "campaigns": 0,
            "campaign_sms": 0,
            "errors": 0,
            "bad_screens": 0,
        }
    )
    last_error: str = ""
    endings: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.counts["errors"] += 1
        self.last_error = what[:300]


def registration(serial: int) -> list[str]:
    rng = random.Random(serial)
    surname = "".join(rng.choice("bcdfghjklmnprstvz") for _ in range(9)).capitalize()
    woman = f"76{serial % 1000000:06d}"
    weeks = str(8 + serial % 30)
    return [PIN, "1", f"Awa {surname}", "1", woman, "2", weeks, "1", "1", "2", "1", "1"]


async def handset(
    client: httpx.AsyncClient, stop: float, traffic: Traffic, serials: Any, index: int
) -> None:
    """One CHW's phone: registrations back to back, a hop every second or so."""
    phone = f"+2237100{index:04d}"
    while time.monotonic() < stop:
        serial = next(serials)
        sid = f"ATUid_soak_{serial}"
        answers = registration(serial)
        last = ""
        for hop in range(len(answers) + 1):
            if time.monotonic() >= stop:
                break
            form = {
                "sessionId": sid,
                "serviceCode": "*384*123#",
                "phoneNumber": phone,
                "networkCode": "99999",
                "text": "*".join(answers[:hop]),
            }
            try:
                response = await client.post("/callbacks/at/ussd", data=form)
            except httpx.HTTPError as exc:
                traffic.error(f"ussd: {exc!r}")
                break
            traffic.counts["ussd_hops"] += 1
            last = response.text
            if response.status_code != 200:
                traffic.error(f"ussd {response.status_code}: {last}")
                break
            if not last.startswith(("CON ", "END ")) or len(last) > 160:
                traffic.counts["bad_screens"] += 1
            if last.startswith("END "):
                break
            await asyncio.sleep(random.uniform(0.5, 1.5))
        if last.startswith("END "):
            # The last screen, its numbers dropped: how the sessions ended.
            ending = "".join("#" if ch.isdigit() else ch for ch in last[:40])
            traffic.endings[ending] = traffic.endings.get(ending, 0) + 1
            if "indisponible" not in last:
                traffic.counts["registrations"] += 1
        event = {
            "sessionId": sid,
            "serviceCode": "*384*123#",
            "phoneNumber": phone,
            "networkCode": "99999",
            "status": "Success",
            "hopsCount": "13",
            "lastAppResponse": last[:500],
            "date": "2026-11-22 10:00:00",
        }
        try:
            await client.post("/callbacks/at/ussd/events", data=event)
        except httpx.HTTPError as exc:
            traffic.error(f"event: {exc!r}")


async def sms_and_reports(client: httpx.AsyncClient, stop: float, traffic: Traffic) -> None:
    """An incoming SMS and a stray delivery report every second; one SMS in ten is a replay."""
    n = 0
    while time.monotonic() < stop:
        n += 1
        sms_id = f"ATXid_soak_in_{n - 5 if n % 10 == 0 and n > 5 else n}"
        sms = {
            "id": sms_id,
            "from": f"+2237600{n % 1000:04d}",
            "to": "36123",
            "text": random.choice(["Merci", "OK", "Quand est le vaccin ?", "Aw ni ce"]),
            "date": "2026-11-22 10:00:00",
            "networkCode": "61001",
        }
        report = {
            "id": f"ATXid_soak_unknown_{n}",
            "status": "Success",
            "phoneNumber": "+22376000001",
            "networkCode": "61001",
            "retryCount": "0",
        }
        for path, form, key in (
            ("/callbacks/at/sms", sms, "sms"),
            ("/callbacks/at/delivery", report, "reports"),
        ):
            try:
                response = await client.post(path, data=form)
                if response.status_code == 200:
                    traffic.counts[key] += 1
                else:
                    traffic.error(f"{path} {response.status_code}: {response.text}")
            except httpx.HTTPError as exc:
                traffic.error(f"{path}: {exc!r}")
        await asyncio.sleep(1.0)


async def campaigns(
    client: httpx.AsyncClient, stop: float, traffic: Traffic, tokens: dict[str, str], every: float
) -> None:
    officer = {"Authorization": f"Bearer {tokens['officer']}"}
    manager = {"Authorization": f"Bearer {tokens['manager']}"}
    n = 0
    await asyncio.sleep(20)
    while time.monotonic() < stop:
        n += 1
        body = {
            "name": f"Soak {n}",
            "audience": {},
            "texts": {
                "fr": f"Séance de vaccination jeudi au CSCom ({n}).",
                "bm": f"Boloci bɛna kɛ CSCom la alamisadon ({n}).",
            },
        }
        try:
            created = await client.post("/api/v1/campaigns", json=body, headers=officer)
            created.raise_for_status()
            cid = created.json()["id"]
            for step, headers in (("submit", officer), ("approve", manager), ("start", manager)):
                answer = await client.post(f"/api/v1/campaigns/{cid}/{step}", headers=headers)
                answer.raise_for_status()
            traffic.counts["campaigns"] += 1
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            text = getattr(getattr(exc, "response", None), "text", "")
            traffic.error(f"campaign: {exc!r} {text}")
        deadline = time.monotonic() + every
        while time.monotonic() < min(deadline, stop):
            await asyncio.sleep(1)


async def drive(
    url: str,
    seconds: float,
    interval: float,
    root: psutil.Process,
    database_url: str | None,
    workdir: Path,
    tokens: dict[str, str],
    handsets: int,
    campaign_every: float,
) -> tuple[list[Sample], Traffic]:
    traffic = Traffic()
    samples: list[Sample] = []
    start = time.monotonic()
    stop = start + seconds
    serials = iter(range(random.randrange(10**6), 10**9))
    limits = httpx.Limits(max_connections=handsets + 4)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        tasks = [
            asyncio.create_task(handset(client, stop, traffic, serials, i)) for i in range(handsets)
        ]
        tasks.append(asyncio.create_task(sms_and_reports(client, stop, traffic)))
        tasks.append(asyncio.create_task(campaigns(client, stop, traffic, tokens, campaign_every)))
        next_sample = start
        while time.monotonic() < stop + 0.5:
            now = time.monotonic()
            if now >= next_sample:
                try:
                    s = await asyncio.to_thread(
                        sample, root, now - start, database_url, workdir, traffic.counts
                    )
                except Exception as exc:
                    print(f"t={now - start:.0f}s sample failed: {exc!r}", flush=True)
                else:
                    samples.append(s)
                    print(line(s), flush=True)
                next_sample += interval
            await asyncio.sleep(min(1.0, max(0.0, next_sample - time.monotonic())))
        await asyncio.gather(*tasks)
    return samples, traffic


# --- report ----------------------------------------------------------------------------


def line(s: Sample) -> str:
    rss = " ".join(f"{r}={s.rss_mb[r]:.0f}" for r in ROLES)
    tcp = " ".join(f"{r}={s.tcp[r]}" for r in ROLES)
    return (
        f"t={s.t:6.0f}s procs={s.processes} RSS MB [{rss}] TCP [{tcp}] "
        f"redis_clients={s.redis_clients} db={s.db_connections} "
        f"hops={s.traffic['ussd_hops']} errors={s.traffic['errors']}"
    )


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope, per second."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    den = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / den if den else 0.0


def measures(samples: list[Sample]) -> dict[str, list[tuple[float, float]]]:
    series: dict[str, list[tuple[float, float]]] = {}
    for s in samples:
        for role in ROLES:
            series.setdefault(f"RSS {role} (MB)", []).append((s.t, s.rss_mb[role]))
        series.setdefault("RSS total (MB)", []).append((s.t, sum(s.rss_mb.values())))
        series.setdefault("TCP connections, all pieces", []).append((s.t, sum(s.tcp.values())))
        series.setdefault("open files, all pieces", []).append((s.t, sum(s.files.values())))
        series.setdefault("processes", []).append((s.t, s.processes))
        series.setdefault("Redis clients", []).append((s.t, s.redis_clients))
        series.setdefault("database connections", []).append((s.t, s.db_connections))
    return series


def report(samples: list[Sample], traffic: Traffic, minutes: float) -> tuple[str, bool]:
    window = 600.0 if minutes >= 20 else minutes * 60 / 3
    end = samples[-1].t
    rows = [
        "| measure | first | last | max | slope over the last "
        f"{window / 60:.0f} min (per 10 min) |",
        "|---|---|---|---|---|",
    ]
    flat = True
    reasons = []
    for name, points in measures(samples).items():
        values = [v for _, v in points]
        tail = [p for p in points if p[0] >= end - window]
        head_max = max(v for t, v in points if t <= window)
        per10 = slope(tail) * 600
        rows.append(
            f"| {name} | {values[0]:.0f} | {values[-1]:.0f} | {max(values):.0f} | {per10:+.1f} |"
        )
        if name.startswith("RSS") and values[-1] > 0 and per10 > 0.05 * values[-1]:
            flat = False
            reasons.append(f"{name} grows {per10:+.1f} per 10 min")
        # A pool opening one more connection is not a leak; a leak climbs steadily,
        # so a count is flat when it climbs less than one per ten minutes at the end and
        # stays within two of the first ten minutes' highest.
        counted = not name.startswith("RSS") and name != "open files, all pieces"
        if counted and (per10 >= 1 or values[-1] > head_max + 2):
            flat = False
            reasons.append(
                f"{name} climbs {per10:+.1f} per 10 min, ends at {values[-1]:.0f} "
                f"(first 10 min: at most {head_max:.0f})"
            )
    counts = traffic.counts
    text = "\n".join(rows)
    text += (
        f"\n\nTraffic over {end / 60:.1f} min: {counts['ussd_hops']} USSD hops, "
        f"{counts['registrations']} registrations, {counts['sms']} incoming SMS, "
        f"{counts['reports']} stray delivery reports, {counts['campaigns']} campaigns "
        f"started; {counts['errors']} errors, {counts['bad_screens']} invalid screens."
    )
    for ending, count in sorted(traffic.endings.items(), key=lambda item: -item[1]):
        text += f"\nSessions ended on {ending!r}: {count}"
    if traffic.last_error:
        text += f"\nLast error: {traffic.last_error}"
    text += "\nVerdict: " + ("FLAT" if flat else "NOT FLAT: " + "; ".join(reasons))
    return text, flat and counts["errors"] == 0


def samples_table(samples: list[Sample]) -> str:
    head = (
        "| t (min) | "
        + " | ".join(f"RSS {r}" for r in ROLES)
        + " | TCP | Redis clients | DB conns | USSD hops | errors |"
    )
    rows = [head, "|" + "---|" * (len(ROLES) + 6)]
    for s in samples:
        rss = " | ".join(f"{s.rss_mb[r]:.0f}" for r in ROLES)
        rows.append(
            f"| {s.t / 60:.1f} | {rss} | {sum(s.tcp.values())} | {s.redis_clients} | "
            f"{s.db_connections} | {s.traffic['ussd_hops']} | {s.traffic['errors']} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--interval", type=float, default=30, help="seconds between samples")
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--handsets", type=int, default=4, help="concurrent USSD sessions")
    parser.add_argument("--campaign-every", type=float, default=10, help="minutes")
    parser.add_argument("--database-url", help="PostgreSQL database to use (wiped); default SQLite")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="outreach-soak-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OUTREACH_REDIS_URL", "OUTREACH_DATABASE_URL", "OUTREACH_CALLBACK_KEY")
    }
    env.update(OUTREACH_ENV="development", PYTHONUNBUFFERED="1")
    if args.database_url:
        from sqlalchemy import create_engine, text

        engine = create_engine(args.database_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        env["OUTREACH_DATABASE_URL"] = args.database_url
    url = f"http://127.0.0.1:{args.api_port}"
    print(f"scratch directory {workdir}; `outreach run` log in run.log there", flush=True)
    proc = start_run(workdir, env, args.api_port)
    try:
        wait_up(url, proc)
        tokens = make_staff(workdir, env, args.handsets)
        samples, traffic = asyncio.run(
            drive(
                url,
                args.minutes * 60,
                args.interval,
                psutil.Process(proc.pid),
                args.database_url,
                workdir,
                tokens,
                args.handsets,
                args.campaign_every * 60,
            )
        )
    finally:
        # `outreach run` stops its pieces in order on SIGTERM, as on Ctrl-C.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    summary, ok = report(samples, traffic, args.minutes)
    text = f"{summary}\n\n{samples_table(samples)}\n"
    print("\n" + text)
    if args.out:
        args.out.write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

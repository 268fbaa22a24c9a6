"""USSD hop latency at a fixed request rate, beside a bare FastAPI endpoint, same run.

Starts `outreach api` (uvicorn, as in production) on PostgreSQL + Redis, and a bare
FastAPI app under the same uvicorn settings. An open-loop generator sends requests at
a fixed rate (1,000/s by default) on a fixed schedule: every slot goes out on time
whether or not earlier replies came back, and latency is measured from the slot's
scheduled time, so a stalled server cannot hide its queue (no coordinated omission).

USSD traffic is multi-step CHW registrations, as AT posts them: each slot is given to
the next session whose previous hop has been answered, or to a new session. Every CHW
runs one session at a time, as on a real handset. The bare endpoint gets the same form
bodies and answers "CON ok".

    .venv/bin/python bench/ussd_hop.py --database-url postgresql+psycopg://... \\
        --redis-url redis://127.0.0.1:6379/2 [--rate 1000] [--seconds 20] [--quick]

The database named by --database-url is emptied (schema dropped) first: give it one
of its own.
"""

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

ROOT = Path(__file__).resolve().parent.parent
CHW_COUNT = 1000
PIN = "1234"


# --- the bare endpoint ---------------------------------------------------------------


def create_bare_app() -> FastAPI:
    """A FastAPI app with one endpoint taking AT's USSD form and doing nothing else.

    It reads and validates the form exactly as the real route does (`read_form`), so
    the ratio measures what the hop adds: state, screens, SQL and the thread trip.
    """
    from outreach.callbacks import read_form
    from outreach.ussd.schemas import UssdRequest

    app = FastAPI()

    @app.post("/callbacks/at/ussd", response_class=PlainTextResponse)
    async def bare(request: Request) -> PlainTextResponse:
        await read_form(request, UssdRequest)
        return PlainTextResponse("CON ok")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_bare(port: int) -> None:
    import uvicorn

    # The same uvicorn.run call as `outreach api`, on this app.
    sys.path.insert(0, str(ROOT / "bench"))
    uvicorn.run(
        "ussd_hop:create_bare_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        proxy_headers=True,
        log_level=os.environ.get("OUTREACH_LOG_LEVEL", "info").lower(),
    )


# --- setup ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chw_phone(i: int) -> str:
    return f"+2237{1000000 + i:07d}"


def prepare(env: dict[str, str]) -> None:
    """Empty the database, migrate, seed the sites and CHW_COUNT CHWs."""
    code = f"""
import os
from sqlalchemy import text
from outreach.db import get_engine, unit_of_work
from outreach.migrate import upgrade
from outreach.redis import get_redis
engine = get_engine()
assert engine.dialect.name == "postgresql", "the benchmark runs on PostgreSQL"
with engine.begin() as conn:
    conn.execute(text("DROP SCHEMA public CASCADE"))
    conn.execute(text("CREATE SCHEMA public"))
upgrade()
get_redis().flushdb()
from outreach.chws import service as chw_service
from outreach.cli import _seed_demo
from outreach.sites.models import Site
with unit_of_work() as session:
    _seed_demo(session)
    for i in range({CHW_COUNT}):
        village = Site(name=f"Village {{i}}", level="village")
        session.add(village)
        session.flush()
        chw_service.add(session, name=f"Agent {{i}}", phone="+2237{{:07d}}".format(1000000 + i),
                        pin="{PIN}", site_ids=[village.id])
"""
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)


def forget_open_sessions(redis_url: str) -> None:
    """Sessions cut by the end of a phase would be offered for resuming in the next one."""
    from redis import Redis

    client = Redis.from_url(redis_url)
    keys = list(client.scan_iter("ussd:*", count=1000))
    if keys:
        client.delete(*keys)


def wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not come up")


# --- the load generator ----------------------------------------------------------------


@dataclass
class Session:
    """One CHW registering one woman, hop by hop."""

    chw: int
    sid: str
    answers: list[str]
    sent: int = 0  # hops sent so far; hop 0 is the dial (empty text)

    def next_text(self) -> str:
        return "*".join(self.answers[: self.sent])

    @property
    def done(self) -> bool:
        return self.sent > len(self.answers)


def registration(serial: int) -> list[str]:
    """Every answer of one registration: a different woman (name, phone) each time."""
    rng = random.Random(serial)
    woman = f"76{serial % 1000000:06d}"
    weeks = str(8 + serial % 30)
    # Random surnames: two registrations by one CHW must not look like the same woman.
    surname = "".join(rng.choice("bcdfghjklmnprstvz") for _ in range(10)).capitalize()
    return [PIN, "1", f"Awa {surname}", "1", woman, "2", weeks,
            "1", "1", "2", "1", "1"]  # fmt: skip


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    bad: int = 0
    sent: int = 0
    lag_max: float = 0.0
    last_error: str = ""
    cpu: float = 0.0  # CPU seconds the target's server processes spent during the phase


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer


async def _request(pool: deque[Conn], port: int, body: bytes) -> tuple[int, bytes]:
    """One POST on a kept-alive connection from `pool` (a new one when none is idle)."""
    conn = pool.popleft() if pool else None
    if conn is None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = Conn(reader, writer)
    head = (
        "POST /callbacks/at/ussd HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nUser-Agent: at-ussd-api/1.0\r\n\r\n"
    ).encode()
    conn.writer.write(head + body)
    headers = await conn.reader.readuntil(b"\r\n\r\n")
    status = int(headers[9:12])
    length = 0
    for line in headers.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    payload = await conn.reader.readexactly(length)
    pool.append(conn)
    return status, payload


async def drive(ports: list[int], *, rate: float, seconds: float, ussd: bool, seed: int) -> Result:
    """Send `rate` requests a second for `seconds` on a fixed schedule, round-robin over
    the server processes (as a load balancer in front of `outreach api` replicas would)."""
    result = Result()
    pools: dict[int, deque[Conn]] = {port: deque() for port in ports}
    ready: deque[Session] = deque()
    free_chws = deque(range(CHW_COUNT))
    rng = random.Random(seed)
    serial = rng.randrange(10**9)
    in_flight: set[asyncio.Task[None]] = set()
    # uvloop's loop.time() ticks in whole milliseconds: too coarse for latencies.
    clock = time.perf_counter
    start = clock() + 0.2
    total = int(rate * seconds)

    def fields(session: Session | None) -> bytes:
        if session is None:
            return urlencode({"sessionId": f"bare{rng.random()}", "serviceCode": "*384*123#",
                              "phoneNumber": "+22370000001", "networkCode": "99999",
                              "text": "1234*1*Awa Traore"}).encode()  # fmt: skip
        return urlencode({"sessionId": session.sid, "serviceCode": "*384*123#",
                          "phoneNumber": chw_phone(session.chw), "networkCode": "99999",
                          "text": session.next_text()}).encode()  # fmt: skip

    async def one(scheduled: float, session: Session | None, port: int) -> None:
        body = fields(session)
        if session is not None:
            session.sent += 1
        try:
            status, payload = await _request(pools[port], port, body)
        except Exception as exc:
            result.errors += 1
            result.last_error = repr(exc)
            if session is not None:
                free_chws.append(session.chw)
            return
        result.latencies.append(clock() - scheduled)
        if status != 200 or not payload.startswith((b"CON ", b"END ")):
            result.bad += 1
        if session is not None:
            if payload.startswith(b"END ") or session.done:
                if not payload.startswith(b"END Inscrite"):
                    result.bad += 1
                free_chws.append(session.chw)
            else:
                ready.append(session)

    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        result.lag_max = max(result.lag_max, clock() - scheduled)
        session: Session | None = None
        if ussd:
            if ready:
                session = ready.popleft()
            elif free_chws:
                serial += 1
                session = Session(chw=free_chws.popleft(), sid=f"ATUid_b{serial}",
                                  answers=registration(serial))  # fmt: skip
            else:
                # Every CHW is mid-hop: the slot is lost, which the report shows.
                result.errors += 1
                continue
        task = asyncio.create_task(one(scheduled, session, ports[i % len(ports)]))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        result.sent += 1
    if in_flight:
        await asyncio.wait(in_flight, timeout=30)
    for pool in pools.values():
        for conn in pool:
            conn.writer.close()
    return result


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and their children so far, from /proc."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        # utime, stime, cutime, cstime: fields 14-17 of stat(5), counted after the name.
        total += sum(int(x) for x in fields[11:15])
    return total / tick


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("OUTREACH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("OUTREACH_REDIS_URL", ""))
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument(
        "--also", type=float, nargs="*", default=[], help="lower rates measured in the same run"
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--processes", type=int, default=2, help="uvicorn processes per target (one per core)"
    )
    parser.add_argument("--quick", action="store_true", help="3 s phases, one round")
    parser.add_argument("--serve-bare", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if not args.database_url.startswith("postgresql") or not args.redis_url:
        sys.exit("give --database-url postgresql+psycopg://... and --redis-url redis://...")
    if args.quick:
        args.seconds, args.rounds = 3.0, 1
    env = {
        **os.environ,
        "OUTREACH_ENV": "development",
        "OUTREACH_DATABASE_URL": args.database_url,
        "OUTREACH_REDIS_URL": args.redis_url,
        "OUTREACH_LOG_LEVEL": os.environ.get("OUTREACH_LOG_LEVEL", "INFO"),
        "OUTREACH_SIMULATOR_ENABLED": "false",
    }
    prepare(env)
    procs: list[subprocess.Popen[bytes]] = []
    ports: dict[str, list[int]] = {"bare": [], "hop": []}
    for _ in range(args.processes):
        api_port, bare_port = free_port(), free_port()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "outreach", "api", "--port", str(api_port)],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--serve-bare", str(bare_port)],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        ports["hop"].append(api_port)
        ports["bare"].append(bare_port)
    try:
        # Processes were started in pairs: api, bare, api, bare...
        in_order = [p for pair in zip(ports["hop"], ports["bare"], strict=True) for p in pair]
        for proc, port in zip(procs, in_order, strict=True):
            wait_up(port, proc)
        pids = {
            "hop": [p.pid for p in procs[0::2]],
            "bare": [p.pid for p in procs[1::2]],
        }
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        # Warm both (connection pools, imports, caches) before anything is measured.
        warm = min(args.rate, 300)
        asyncio.run(drive(ports["bare"], rate=warm, seconds=3, ussd=False, seed=0))
        asyncio.run(drive(ports["hop"], rate=warm, seconds=3, ussd=True, seed=0))
        time.sleep(1)
        for rate in [args.rate, *args.also]:
            results: dict[str, list[Result]] = {"bare": [], "hop": []}
            for round_ in range(args.rounds):
                for name, ussd in (("bare", False), ("hop", True)):
                    run = drive(ports[name], rate=rate, seconds=args.seconds, ussd=ussd,
                                seed=int(rate) * 10 + round_ + 1)  # fmt: skip
                    forget_open_sessions(args.redis_url)
                    before = cpu_seconds(pids[name])
                    outcome = asyncio.run(run)
                    outcome.cpu = cpu_seconds(pids[name]) - before
                    results[name].append(outcome)
            report(args, rate, results)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def report(args: argparse.Namespace, rate: float, results: dict[str, list[Result]]) -> None:
    print(f"fixed rate {rate:.0f} req/s, {args.rounds} x {args.seconds:.0f} s per target, "
          f"{args.processes} uvicorn processes per target, {os.cpu_count()} cores shared by "
          "servers, PostgreSQL, Redis and the generator")  # fmt: skip
    figures = {}
    for name, runs in results.items():
        lat = [x for r in runs for x in r.latencies] or [float("nan")]
        sent = sum(r.sent for r in runs)
        errors = sum(r.errors for r in runs)
        bad = sum(r.bad for r in runs)
        lag = max(r.lag_max for r in runs) * 1000
        cpu_ms = sum(r.cpu for r in runs) * 1000 / max(1, len(lat))
        p50, p90, p99 = pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99)
        figures[name] = (p50, p99)
        problems = {r.last_error for r in runs if r.last_error}
        if problems:
            print(f"{name}: {errors} errors, e.g. {sorted(problems)[:2]}")
        print(f"{name:5s} sent {sent:6d}  answered {len(lat):6d}  errors {errors}  bad {bad}  "
              f"p50 {p50:7.2f} ms  p90 {p90:7.2f} ms  p99 {p99:7.2f} ms  "
              f"max {max(lat) * 1000:7.1f} ms  mean {statistics.fmean(lat) * 1000:6.2f} ms  "
              f"generator lag max {lag:.1f} ms  server CPU {cpu_ms:.2f} ms/request")  # fmt: skip
    p50_ratio = figures["hop"][0] / figures["bare"][0]
    p99_ratio = figures["hop"][1] / figures["bare"][1]
    print(f"ratio hop/bare: p50 {p50_ratio:.2f}x (goal <= 2), p99 {p99_ratio:.2f}x (goal <= 3)")


if __name__ == "__main__":
    main()

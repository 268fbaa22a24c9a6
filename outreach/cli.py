"""The `outreach` command: run the pieces, migrate, seed, manage CHWs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from outreach.accounts.cli import app as user_app
from outreach.config import VAR_DIR, get_settings
from outreach.encryption.cli import app as keys_app
from outreach.privacy.cli import app as privacy_app
from outreach.programmes.cli import content_app
from outreach.registry.cli import app as beneficiary_app

app = typer.Typer(
    help="Service SMS et USSD pour la santé maternelle et infantile.", no_args_is_help=True
)
db_app = typer.Typer(help="Base de données.", no_args_is_help=True)
chw_app = typer.Typer(help="Agents de santé communautaire (ASC).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(chw_app, name="chw")
app.add_typer(content_app, name="content")
app.add_typer(beneficiary_app, name="beneficiary")
app.add_typer(user_app, name="user")
app.add_typer(keys_app, name="keys")
app.add_typer(privacy_app, name="privacy")
console = Console()

DEMO_CHW_PHONE = "+22370000001"
DEMO_CHW_PIN = "1234"
DEMO_CHW_NAME = "Aminata Coulibaly"
DEMO_VILLAGES = ("Pelengana", "Sakoïba", "Dougounina")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the database migrations."""
    from outreach.migrate import upgrade

    upgrade(revision=revision)
    console.print(f"[green]Base à jour[/green] ({_safe_url(get_settings().database_url)})")


@app.command()
def api(
    host: str | None = None,
    port: int | None = None,
    workers: Annotated[
        int | None, typer.Option(help="Processus uvicorn (défaut : OUTREACH_API_WORKERS).")
    ] = None,
) -> None:
    """Serve the HTTP API (USSD and SMS callbacks, simulator, metrics)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "outreach.main:create_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers or settings.api_workers,
        proxy_headers=True,
        # Only these peers may say who the client is (X-Forwarded-For).
        forwarded_allow_ips=[str(network) for network in settings.trusted_proxies],
        log_level=settings.log_level.lower(),
    )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Processus d'envoi.")] = 2,
    queues: str = "outbox,maintenance",
) -> None:
    """Run a Celery worker (scale out by starting more of these)."""
    from outreach.logging import configure_logging
    from workers.app import celery_app

    configure_logging("worker")
    celery_app.worker_main(
        [
            "worker",
            f"--queues={queues}",
            f"--concurrency={concurrency}",
            "--loglevel=INFO",
            f"--hostname=outreach-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
    )


@app.command()
def beat() -> None:
    """Run Celery beat, which schedules the periodic sweeper (run exactly one)."""
    from outreach.logging import configure_logging
    from workers.app import celery_app

    configure_logging("beat")
    VAR_DIR.mkdir(exist_ok=True)
    celery_app.start(["beat", "--loglevel=INFO", f"--schedule={VAR_DIR / 'celerybeat-schedule'}"])


@app.command()
def emulator(host: str | None = None, port: int | None = None) -> None:
    """Serve the local Africa's Talking emulator."""
    import uvicorn

    from outreach.gateways.emulator import create_app

    settings = get_settings()
    uvicorn.run(
        create_app(),
        host=host or settings.emulator_host,
        port=port or settings.emulator_port,
        log_level="warning",
    )


@app.command("seed-demo")
def seed_demo() -> None:
    """Load the programme area's sites and a demo CHW (safe to run twice)."""
    from outreach.db import unit_of_work
    from outreach.reports import demo

    with unit_of_work() as session:
        chw_phone, created = _seed_demo(session)
        console_demo = demo.seed(session)
    state = "créé" if created else "déjà présent"
    console.print(
        f"Agent de démonstration ({state}): [bold]{DEMO_CHW_NAME}[/bold], "
        f"téléphone [bold]{chw_phone}[/bold], PIN [bold]{DEMO_CHW_PIN}[/bold]"
    )
    if console_demo:
        console.print("Données de démonstration de la console ajoutées (femmes, messages, USSD).")


def _seed_demo(session: object) -> tuple[str, bool]:
    from sqlmodel import Session

    from outreach.chws import service as chw_service
    from outreach.sites import service as site_service
    from outreach.sites.models import SiteLevel

    assert isinstance(session, Session)
    site_service.seed(session)
    if chw_service.get_by_phone(session, e164=DEMO_CHW_PHONE):
        return DEMO_CHW_PHONE, False
    village_ids = []
    for name in DEMO_VILLAGES:
        village = site_service.find(session, name=name, level=SiteLevel.VILLAGE)
        if village and village.id:
            village_ids.append(village.id)
    chw_service.add(
        session, name=DEMO_CHW_NAME, phone=DEMO_CHW_PHONE, pin=DEMO_CHW_PIN, site_ids=village_ids
    )
    return DEMO_CHW_PHONE, True


@chw_app.command("add")
def chw_add(
    name: Annotated[str, typer.Option(help="Nom complet.")],
    phone: Annotated[str, typer.Option(help="Numéro de téléphone (ex: 70123456).")],
    pin: Annotated[str, typer.Option(help="Code PIN à 4 chiffres.")],
    village: Annotated[list[str], typer.Option(help="Village couvert (répétable).")],
    language: Annotated[str, typer.Option(help="fr ou bm.")] = "fr",
) -> None:
    """Register a CHW on a phone number, covering one or more villages."""
    from outreach.chws import service as chw_service
    from outreach.db import unit_of_work
    from outreach.registry.phones import InvalidPhoneNumber
    from outreach.sites import service as site_service
    from outreach.sites.models import SiteLevel

    if language not in ("fr", "bm"):
        _fail("langue inconnue: utilisez fr ou bm")
    try:
        with unit_of_work() as session:
            site_ids = []
            for name_ in village:
                site = site_service.find(session, name=name_, level=SiteLevel.VILLAGE)
                if site is None or site.id is None:
                    _fail(f"village inconnu: {name_} (lancez `outreach seed-demo` pour les sites)")
                    return
                site_ids.append(site.id)
            chw = chw_service.add(
                session, name=name, phone=phone, pin=pin, site_ids=site_ids, language=language
            )
            chw_id = chw.id
    except InvalidPhoneNumber:
        _fail(f"numéro invalide: {phone}")
    except ValueError as exc:
        _fail(str(exc))
    console.print(f"[green]ASC enregistré[/green] (id {chw_id})")


@chw_app.command("reset-pin")
def chw_reset_pin(
    phone: Annotated[str, typer.Option(help="Numéro de l'agent.")],
    pin: Annotated[str, typer.Option(help="Nouveau PIN à 4 chiffres.")],
) -> None:
    """Set a new PIN for a CHW and lift a lockout."""
    from outreach.chws import service as chw_service
    from outreach.db import unit_of_work
    from outreach.registry import phones

    try:
        e164 = phones.normalize(phone)
        with unit_of_work() as session:
            chw = chw_service.get_by_phone(session, e164=e164)
            if chw is None:
                _fail(f"aucun agent sur le numéro {e164}")
                return
            chw_service.reset_pin(session, chw=chw, pin=pin)
    except phones.InvalidPhoneNumber:
        _fail(f"numéro invalide: {phone}")
    except ValueError as exc:
        _fail(str(exc))
    console.print("[green]PIN réinitialisé[/green]")


@chw_app.command("pending")
def chw_pending() -> None:
    """List the self-registrations waiting for a CHW or staff to confirm them."""
    from sqlmodel import col, select

    from outreach.db import unit_of_work
    from outreach.registry.models import Beneficiary, BeneficiaryStatus, SelfRegistration

    table = Table("code", "nom", "déclaré", "village déclaré", "le")
    with unit_of_work() as session:
        rows = session.exec(
            select(Beneficiary, SelfRegistration)
            .join(SelfRegistration, col(SelfRegistration.beneficiary_id) == col(Beneficiary.id))
            .where(Beneficiary.status == BeneficiaryStatus.PENDING)
            .order_by(col(SelfRegistration.created_at))
        ).all()
        for woman, stated in rows:
            said = (
                f"enceinte, {stated.stated_weeks} sem."
                if stated.stated_weeks is not None
                else f"bébé de {stated.stated_child_months} mois"
            )
            table.add_row(
                woman.code,
                woman.name,
                said,
                stated.village_text or "-",
                stated.created_at.strftime("%d/%m/%Y"),
            )
    console.print(table)


@chw_app.command("confirm")
def chw_confirm(
    code: Annotated[str, typer.Option(help="Code d'inscription de la femme.")],
    phone: Annotated[str, typer.Option(help="Numéro de l'agent qui la suivra.")],
) -> None:
    """Confirm a self-registration and give her to a CHW (she gets her confirmation SMS)."""
    from outreach.chws import service as chw_service
    from outreach.db import unit_of_work
    from outreach.registry import phones
    from outreach.registry import service as registry_service

    try:
        e164 = phones.normalize(phone)
        with unit_of_work() as session:
            chw = chw_service.get_by_phone(session, e164=e164)
            woman = registry_service.find_by_code(session, code=code.strip())
            if chw is None or chw.id is None:
                _fail(f"aucun agent sur le numéro {e164}")
                return
            if woman is None or woman.id is None:
                _fail(f"aucune inscription avec le code {code}")
                return
            registry_service.confirm_pending(session, beneficiary_id=woman.id, chw_id=chw.id)
    except phones.InvalidPhoneNumber:
        _fail(f"numéro invalide: {phone}")
    except registry_service.RegistrationError:
        _fail(f"l'inscription {code} n'est pas en attente")
    console.print("[green]Inscription confirmée[/green]")


@app.command()
def run(
    api_port: Annotated[int | None, typer.Option(help="Port de l'API.")] = None,
    emulator_port: Annotated[int | None, typer.Option(help="Port de l'émulateur.")] = None,
    demo: Annotated[bool, typer.Option(help="Charger les sites et l'agent de démo.")] = True,
) -> None:
    """Start everything: Redis (embedded if none is set), API, worker, beat and emulator."""
    from outreach.embedded_redis import EmbeddedRedis

    settings = get_settings()
    api_port = api_port or settings.api_port
    emulator_port = emulator_port or settings.emulator_port
    env = dict(os.environ)
    redis: EmbeddedRedis | None = None
    if not settings.redis_url:
        redis = EmbeddedRedis(VAR_DIR / "redis")
        env["OUTREACH_REDIS_URL"] = redis.start()
    key = settings.callback_key.get_secret_value() if settings.callback_key else ""
    suffix = f"?key={key}" if key else ""
    env.update(
        OUTREACH_API_PORT=str(api_port),
        OUTREACH_EMULATOR_PORT=str(emulator_port),
    )
    env.setdefault(
        "OUTREACH_EMULATOR_DELIVERY_URL",
        f"http://127.0.0.1:{api_port}/callbacks/at/delivery{suffix}",
    )
    children: dict[str, subprocess.Popen[bytes]] = {}
    # A supervisor (systemd, timeout, an IDE) stops us with SIGTERM: clean up as for Ctrl-C.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        _child_run(["db", "upgrade"], env)
        if demo:
            _child_run(["seed-demo"], env)
        if settings.gateway == "emulator":
            children["emulator"] = _spawn(["emulator", "--port", str(emulator_port)], env)
        children["api"] = _spawn(["api", "--port", str(api_port)], env)
        children["worker"] = _spawn(["worker"], env)
        children["beat"] = _spawn(["beat"], env)
        _print_urls(api_port, emulator_port, env["OUTREACH_REDIS_URL"], embedded=redis is not None)
        _supervise(children)
    except KeyboardInterrupt:
        console.print("\nArrêt en cours...")
    finally:
        _stop_all(children)
        if redis:
            redis.stop()
        console.print("Arrêté.")


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Each piece in its own process group, so Ctrl-C reaches us once and we stop them in order.
    return subprocess.Popen(  # noqa: S603 - our own interpreter and argv
        [sys.executable, "-m", "outreach", *args], env=env, start_new_session=True
    )


def _child_run(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "outreach", *args], env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        _fail(f"`outreach {' '.join(args)}` a échoué (code {result.returncode})")


def _print_urls(api_port: int, emulator_port: int, redis_url: str, *, embedded: bool) -> None:
    settings = get_settings()
    table = Table(title="outreach est démarré", show_header=False)
    table.add_row("Console du personnel", f"http://127.0.0.1:{api_port}/console")
    table.add_row("Simulateur de téléphone", f"http://127.0.0.1:{api_port}/simulator")
    table.add_row("API (documentation)", f"http://127.0.0.1:{api_port}/docs")
    table.add_row("Rappel USSD", f"http://127.0.0.1:{api_port}/callbacks/at/ussd")
    table.add_row("Métriques", f"http://127.0.0.1:{api_port}/metrics")
    if settings.gateway == "emulator":
        table.add_row("Émulateur Africa's Talking", f"http://127.0.0.1:{emulator_port}")
    table.add_row("Base de données", _safe_url(settings.database_url))
    table.add_row("Redis", redis_url + (" (intégré)" if embedded else ""))
    table.add_row("ASC de démo", f"{DEMO_CHW_PHONE}, PIN {DEMO_CHW_PIN}")
    console.print(table)
    console.print("Ctrl-C pour tout arrêter.")


def _supervise(children: dict[str, subprocess.Popen[bytes]]) -> None:
    while True:
        for name, proc in children.items():
            code = proc.poll()
            if code is not None:
                console.print(f"[red]{name} s'est arrêté (code {code}); arrêt de l'ensemble.[/red]")
                raise typer.Exit(code=1)
        time.sleep(0.5)


def _stop_all(children: dict[str, subprocess.Popen[bytes]]) -> None:
    # Stop the producers (API, beat) before the consumers, so nothing is left half-sent.
    for name in ("api", "beat", "worker", "emulator"):
        proc = children.get(name)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _fail(message: str) -> None:
    console.print(f"[red]Erreur:[/red] {message}")
    raise typer.Exit(code=1)


def main() -> None:
    from outreach.logging import configure_logging

    # Settings that refuse to load are reported by the command that needs them (and
    # `--help` still works): logging then stays Python's default until a command sets it up.
    with contextlib.suppress(ValueError):
        configure_logging("cli")
    app()


if __name__ == "__main__":
    main()

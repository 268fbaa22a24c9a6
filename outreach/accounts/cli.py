"""`outreach user`: staff accounts from the command line (the first admin starts here)."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import select

from outreach.accounts import service, sessions
from outreach.accounts.models import Role
from outreach.audit import service as audit
from outreach.db import after_commit, unit_of_work

app = typer.Typer(help="Comptes du personnel (console et API).", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

ACTOR = "cli"


def _fail(message: str) -> None:
    err.print(f"[red]Erreur:[/red] {message}")
    raise typer.Exit(code=1)


def _read_password(stdin: bool) -> str:
    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Mot de passe", hide_input=True, confirmation_prompt=True)
    try:
        service.check_password_rules(password)
    except service.AccountError as exc:
        _fail(str(exc))
    return password


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Lire le mot de passe sur l'entrée standard.")
]


@app.command("add")
def add(
    email: Annotated[str, typer.Option(help="Adresse e-mail (identifiant de connexion).")],
    name: Annotated[str, typer.Option(help="Nom complet.")],
    role: Annotated[Role, typer.Option(help="admin, manager, officer ou viewer.")],
    language: Annotated[str, typer.Option(help="Langue de la console: fr ou en.")] = "fr",
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a staff account (`--role admin` for the first one)."""
    if language not in ("fr", "en"):
        _fail("langue inconnue: utilisez fr ou en")
    password = _read_password(password_stdin)
    try:
        with unit_of_work() as session:
            user = service.create_user(
                session, email=email, name=name, role=role, password=password, language=language
            )
            audit.record(
                session,
                action="user.create",
                actor=ACTOR,
                object_type="staff_user",
                object_id=user.id,
                detail={"role": user.role},
            )
            user_id = user.id
    except service.AccountError as exc:
        _fail(str(exc))
    console.print(
        f"[green]Compte créé[/green]: {email.strip().lower()} ({role.value}, id {user_id})"
    )


@app.command("token")
def token(
    email: Annotated[str, typer.Argument(help="Adresse e-mail du compte.")],
    name: Annotated[str, typer.Option(help="À quoi sert ce jeton (ex: export-mensuel).")],
    days: Annotated[
        int | None, typer.Option(min=1, help="Durée de validité en jours (sans limite sinon).")
    ] = None,
) -> None:
    """Issue an API token; it is printed once and never stored in clear."""
    try:
        with unit_of_work() as session:
            user = service.require_by_email(session, email=email)
            if not user.active:
                raise service.AccountError(f"le compte {user.email} est désactivé")
            plain = service.issue_token(
                session, user=user, name=name, ttl=timedelta(days=days) if days else None
            )
            audit.record(
                session,
                action="token.create",
                actor=ACTOR,
                object_type="staff_user",
                object_id=user.id,
                detail={"name": name, "days": days},
            )
    except service.AccountError as exc:
        _fail(str(exc))
    err.print("Jeton d'API (affiché une seule fois, gardez-le en lieu sûr):")
    print(plain)


@app.command("passwd")
def passwd(
    email: Annotated[str, typer.Argument(help="Adresse e-mail du compte.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a new password; the account's API tokens and console sessions end."""
    try:
        with unit_of_work() as session:
            user = service.require_by_email(session, email=email)
            password = _read_password(password_stdin)
            service.set_password(session, user=user, password=password)
            audit.record(
                session,
                action="user.password",
                actor=ACTOR,
                object_type="staff_user",
                object_id=user.id,
            )
            user_id = user.id
            assert user_id is not None
            after_commit(session, lambda: sessions.end_user_sessions(user_id))
    except service.AccountError as exc:
        _fail(str(exc))
    console.print("[green]Mot de passe changé[/green]")


@app.command("deactivate")
def deactivate(email: Annotated[str, typer.Argument(help="Adresse e-mail du compte.")]) -> None:
    """Deactivate an account: it can no longer log in, and its tokens stop working."""
    try:
        with unit_of_work() as session:
            user = service.require_by_email(session, email=email)
            service.deactivate(session, user=user)
            audit.record(
                session,
                action="user.deactivate",
                actor=ACTOR,
                object_type="staff_user",
                object_id=user.id,
            )
            user_id = user.id
            assert user_id is not None
            after_commit(session, lambda: sessions.end_user_sessions(user_id))
    except service.AccountError as exc:
        _fail(str(exc))
    console.print(f"[green]Compte désactivé[/green]: {email.strip().lower()}")


@app.command("list")
def list_users() -> None:
    """List staff accounts."""
    with unit_of_work() as session:
        users = service.list_users(session)
        table = Table(title="Comptes du personnel")
        for column in ("Id", "E-mail", "Nom", "Rôle", "Actif", "Dernière connexion (UTC)"):
            table.add_column(column)
        for user in users:
            table.add_row(
                str(user.id),
                user.email,
                user.name,
                user.role,
                "oui" if user.active else "non",
                user.last_login_at.strftime("%d/%m/%Y %H:%M") if user.last_login_at else "-",
            )
    if not users:
        console.print("Aucun compte. Créez le premier: outreach user add --role admin …")
        return
    console.print(table)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%d/%m/%Y %H:%M") if moment else "-"


@app.command("tokens")
def tokens(email: Annotated[str, typer.Argument(help="Adresse e-mail du compte.")]) -> None:
    """List an account's API tokens: name, dates and last use (never the token itself)."""
    try:
        with unit_of_work() as session:
            user = service.require_by_email(session, email=email)
            rows = service.list_tokens(session, user=user)
            table = Table(title=f"Jetons d'API de {user.email}")
            for column in ("Id", "Nom", "Créé (UTC)", "Expire", "Dernier usage", "Révoqué"):
                table.add_column(column)
            for row in rows:
                table.add_row(
                    str(row.id),
                    row.name,
                    _when(row.created_at),
                    _when(row.expires_at),
                    _when(row.last_used_at),
                    _when(row.revoked_at),
                )
    except service.AccountError as exc:
        _fail(str(exc))
    if not rows:
        console.print("Aucun jeton pour ce compte.")
        return
    console.print(table)


@app.command("sites")
def sites(
    email: Annotated[str, typer.Argument(help="Adresse e-mail du compte.")],
    site: Annotated[
        list[str] | None,
        typer.Option(
            "--site",
            help="Lieu (id ou nom exact) auquel limiter le compte; répéter pour plusieurs.",
        ),
    ] = None,
    all_sites: Annotated[
        bool, typer.Option("--all", help="Lever la limite: le compte voit tous les lieux.")
    ] = False,
) -> None:
    """Show, limit or lift the sites an account sees (a site covers every place under it)."""
    from outreach.accounts import scopes
    from outreach.sites.models import Site

    try:
        with unit_of_work() as session:
            user = service.require_by_email(session, email=email)
            assert user.id is not None
            if site or all_sites:
                if site and all_sites:
                    _fail("--site et --all s'excluent")
                ids: list[int] = []
                for value in site or []:
                    found = (
                        session.get(Site, int(value))
                        if value.isdigit()
                        else session.exec(select(Site).where(Site.name == value.strip())).first()
                    )
                    if found is None or found.id is None:
                        _fail(f"lieu inconnu: {value}")
                        return
                    ids.append(found.id)
                try:
                    chosen = scopes.set_sites(session, user=user, site_ids=ids)
                except ValueError as exc:
                    _fail(str(exc))
                    return
                audit.record(
                    session,
                    action="user.sites",
                    actor=ACTOR,
                    object_type="staff_user",
                    object_id=user.id,
                    detail={"site_ids": chosen},
                )
            current = scopes.site_ids(session, user_id=user.id)
            names = [
                f"{s.name} ({s.level}, id {s.id})"
                for s in (session.get(Site, i) for i in current)
                if s is not None
            ]
    except service.AccountError as exc:
        _fail(str(exc))
    if not names:
        console.print(f"{email.strip().lower()} voit tous les lieux.")
        return
    console.print(f"{email.strip().lower()} est limité à: " + ", ".join(names))

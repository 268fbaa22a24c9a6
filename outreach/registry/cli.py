"""`outreach beneficiary`: what staff can look up about one woman from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from outreach.db import unit_of_work
from outreach.privacy import service as privacy
from outreach.registry import service

app = typer.Typer(help="Bénéficiaires.", no_args_is_help=True)
console = Console()

ACTOR = "cli"
CHANNELS = {"ussd": "USSD (ASC)", "sms": "SMS", "gateway_optout": "Opérateur"}


@app.command("consent")
def consent(code: Annotated[str, typer.Argument(help="Code d'inscription.")]) -> None:
    """Show a beneficiary's consent history: every agreement and withdrawal."""
    with unit_of_work() as session:
        beneficiary = service.find_by_code(session, code=code.strip())
        if beneficiary is None or beneficiary.id is None:
            console.print(f"[red]Erreur:[/red] aucune bénéficiaire avec le code {code}")
            raise typer.Exit(code=1)
        history = service.consent_history(session, beneficiary_id=beneficiary.id)
        table = Table(title=f"Consentements de {beneficiary.name} ({beneficiary.code})")
        for column in ("Date (UTC)", "Décision", "Canal", "Texte", "Langue"):
            table.add_column(column)
        for entry in history:
            table.add_row(
                entry.recorded_at.strftime("%d/%m/%Y %H:%M"),
                "accord" if entry.granted else "retrait",
                CHANNELS.get(entry.channel, entry.channel),
                f"{entry.text_key} v{entry.text_version}",
                entry.language,
            )
    if not history:
        console.print("Aucun consentement enregistré.")
        return
    console.print(table)


def _fail(message: str) -> None:
    console.print(f"[red]Erreur:[/red] {message}")
    raise typer.Exit(code=1)


@app.command("export")
def export(
    code: Annotated[str, typer.Argument(help="Code d'inscription.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Fichier JSON (défaut: la sortie).")
    ] = None,
) -> None:
    """Write everything held about one beneficiary as JSON (audited)."""
    with unit_of_work() as session:
        beneficiary = service.find_by_code(session, code=code.strip())
        if beneficiary is None:
            _fail(f"aucune bénéficiaire avec le code {code}")
            return
        document = privacy.export_audited(session, beneficiary=beneficiary, actor=ACTOR)
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"[green]Export écrit[/green]: {output}")


@app.command("erase")
def erase(
    code: Annotated[str, typer.Argument(help="Code d'inscription.")],
    yes: Annotated[bool, typer.Option("--yes", help="Ne pas demander de confirmation.")] = False,
) -> None:
    """Anonymise one beneficiary for good: name, number, texts (counts and costs stay)."""
    if not yes and not typer.confirm(
        f"Effacer définitivement la bénéficiaire {code} ? Cette action est irréversible."
    ):
        raise typer.Exit(code=1)
    with unit_of_work() as session:
        beneficiary = service.find_by_code(session, code=code.strip())
        if beneficiary is None:
            _fail(f"aucune bénéficiaire avec le code {code}")
            return
        result = privacy.erase_audited(session, beneficiary=beneficiary, actor=ACTOR)
    if result.already:
        console.print(f"La bénéficiaire {code} était déjà effacée: rien n'a changé.")
        return
    console.print(
        f"[green]Bénéficiaire {code} effacée[/green]: {result.messages_blanked} SMS envoyés "
        f"et {result.inbound_blanked} SMS reçus vidés, {result.messages_cancelled} envois "
        f"annulés, {result.appointments_cancelled} rendez-vous annulés."
    )

"""`outreach beneficiary`: what staff can look up about one woman from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from outreach.db import unit_of_work
from outreach.registry import service

app = typer.Typer(help="Bénéficiaires.", no_args_is_help=True)
console = Console()

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

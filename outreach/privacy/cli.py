"""`outreach privacy`: data-protection chores run by hand."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from outreach.privacy import retention

app = typer.Typer(help="Protection des données.", no_args_is_help=True)
console = Console()


@app.command("purge")
def purge(
    days: Annotated[
        int | None,
        typer.Option(min=1, help="Durée de conservation en jours (défaut: le réglage)."),
    ] = None,
) -> None:
    """Blank message bodies and free text past the retention period (as beat does daily)."""
    counts = retention.run(days=days, actor="cli")
    console.print(
        f"[green]Purge terminée[/green]: {counts.total} lignes effacées "
        f"(SMS envoyés {counts.outbound}, tentatives {counts.attempts}, "
        f"SMS reçus {counts.inbound}, sessions USSD {counts.ussd_events}, "
        f"auto-inscriptions {counts.self_registrations})"
    )

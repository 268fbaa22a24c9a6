"""`outreach keys`: make keys and rotate the ones protecting personal data."""

from __future__ import annotations

import typer
from rich.console import Console

from outreach.db import unit_of_work
from outreach.encryption import keys, service

app = typer.Typer(help="Clés de chiffrement des données personnelles.", no_args_is_help=True)
console = Console()


@app.command("new")
def new() -> None:
    """Print a new data key and a new index key, for OUTREACH_DATA_KEYS and OUTREACH_INDEX_KEYS."""
    console.print(f"OUTREACH_DATA_KEYS={keys.generate_data_key()}")
    console.print(f"OUTREACH_INDEX_KEYS={keys.generate_index_key()}")
    console.print(
        "Gardez-les hors de la base et de ses sauvegardes: sans elles, les noms et numéros "
        "sont illisibles, pour un voleur comme pour vous."
    )


@app.command("rotate")
def rotate() -> None:
    """Rewrite every encrypted value and blind index with the first key of each list."""
    from outreach import models  # noqa: F401 - every table must be known to find its columns

    with unit_of_work() as session:
        report = service.rotate(session=session)
    for table, count in report.rows.items():
        console.print(f"{table}: {count} ligne(s) réécrite(s)")
    console.print(
        f"Terminé: {report.total} ligne(s). Les anciennes clés peuvent maintenant être "
        "retirées des réglages."
    )

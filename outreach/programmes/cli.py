"""`outreach content ...`: check the content library, preview a stage, run the fan-out."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from messages import texts
from messages.encoding import segment_info
from messages.schedule import programme_week
from messages.validate import summarise, validate
from outreach.config import get_settings

content_app = typer.Typer(
    help="Contenus: vérification, aperçu, envoi du jour.", no_args_is_help=True
)
console = Console()

SPELLING = {
    ("fr", True): "GSM",
    ("fr", False): "orig.",
    ("bm", True): "bm_gsm",
    ("bm", False): "ɛɔɲŋ",
}


@content_app.command("check")
def check(
    send_drafts: Annotated[
        bool | None,
        typer.Option(
            "--send-drafts/--approved-only",
            help="Compter les brouillons comme envoyables (défaut: le réglage).",
        ),
    ] = None,
    country: Annotated[str, typer.Option(help="Pays du prix par segment.")] = "ML",
) -> None:
    """Validate every content file; per programme and language: count, segments, cost."""
    from outreach.programmes.costs import price_per_segment

    settings = get_settings()
    drafts = settings.send_drafts if send_drafts is None else send_drafts
    try:
        messages = texts.load_dir(texts.CONTENT_DIR)
    except texts.ContentError as exc:
        console.print(f"[red]Contenu illisible:[/red] {exc}")
        raise typer.Exit(code=1) from exc
    price = price_per_segment(_country_prefix(country))
    table = Table(title=f"Contenus ({len(messages)} messages), prix {price} XOF par segment")
    # Segments: to her own phone; "+nom": behind a 20-character name (shared phone, CHW).
    for column in (
        "Programme",
        "Lang.",
        "Orth.",
        "Env.",
        "Msgs",
        "Seg.",
        "+nom",
        "Max",
        "Encodage",
        "XOF/bén.",
        "À relire",
    ):
        table.add_column(column, justify="left" if column in ("Programme", "Orth.") else "right")
    for row in summarise(messages, gsm_safe=settings.content_gsm_safe):
        table.add_row(
            row.programme,
            row.language,
            SPELLING[(row.language, row.gsm_safe)],
            "oui" if row.sent else "",
            str(row.count),
            str(row.segments),
            str(row.segments_addressed),
            str(row.max_segments) if row.max_segments == 1 else f"[red]{row.max_segments}[/red]",
            "/".join(row.encodings),
            f"{row.segments * price:.0f}",
            str(row.missing_approvals),
        )
    console.print(table)
    problems = validate(messages, gsm_safe=settings.content_gsm_safe, send_drafts=drafts)
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        colour = "red" if problem.severity == "error" else "yellow"
        console.print(f"[{colour}]{problem}[/{colour}]")
    pending = sum(1 for m in messages.values() if not m.approved)
    mode = "brouillons envoyés" if drafts else "seuls les messages approuvés partent"
    console.print(f"{pending} messages en attente de relecture ({mode}).")
    if errors:
        console.print(f"[red]{len(errors)} erreur(s)[/red]")
        raise typer.Exit(code=1)
    console.print("[green]Contenu valide[/green]")


def _country_prefix(country: str) -> str:
    import phonenumbers

    code = phonenumbers.country_code_for_region(country.upper())
    if not code:
        raise typer.BadParameter(f"pays inconnu: {country}")
    # A prefix shared by no particular network: the country price applies.
    return f"+{code}"


@content_app.command("preview")
def preview(
    week: Annotated[int | None, typer.Option(help="Semaine de grossesse.")] = None,
    age_days: Annotated[int | None, typer.Option(help="Âge de l'enfant en jours.")] = None,
    age_weeks: Annotated[int | None, typer.Option(help="Âge de l'enfant en semaines.")] = None,
    language: Annotated[str, typer.Option(help="fr ou bm.")] = "fr",
    programme: Annotated[str | None, typer.Option(help="pregnancy ou infant.")] = None,
    name: Annotated[
        str | None, typer.Option(help="Nom, pour l'aperçu sur téléphone partagé ou via l'ASC.")
    ] = None,
) -> None:
    """Show what a woman at pregnancy week N, or a mother of an infant aged N, receives."""
    chosen = [v is not None for v in (week, age_days, age_weeks)]
    if sum(chosen) != 1:
        raise typer.BadParameter("donnez une seule option: --week, --age-days ou --age-weeks")
    if language not in texts.LANGUAGES:
        raise typer.BadParameter("langue: fr ou bm")
    if week is not None:
        programme = programme or "pregnancy"
        stage, day_offset = week, None
    else:
        programme = programme or "infant"
        days = age_days if age_days is not None else (age_weeks or 0) * 7
        stage, day_offset = days // 7, days
    settings = get_settings()
    safe = settings.content_gsm_safe.get(language, True)
    prefix = ""
    if name:
        before, after = texts.address_parts(language, relay=False, gsm_safe=safe)
        prefix = before + texts.addressee(name, language) + after
    found = sorted(
        (
            m
            for m in texts.load().values()
            if m.programme == programme
            and m.offset_days is not None
            and programme_week(programme, m.offset_days) == stage
        ),
        key=lambda m: m.offset_days or 0,
    )
    unit = "semaine de grossesse" if programme == "pregnancy" else "semaine d'âge"
    table = Table(title=f"{programme}, {unit} {stage}, langue {language}", show_lines=True)
    for column in ("Clé", "Jour", "Relecture", "Texte envoyé", "Encodage", "Segments", "Reste"):
        table.add_column(column)
    for message in found:
        body = prefix + message.text(language, gsm_safe=safe)
        info = segment_info(body)
        due = _due_label(message.offset_days or 0, programme)
        if day_offset is not None and message.offset_days == day_offset:
            due = f"[bold]{due} (ce jour)[/bold]"
        approved = message.approved or settings.send_drafts
        review = message.review_status + ("" if approved else " (non envoyé)")
        table.add_row(
            message.key,
            due,
            review,
            body,
            info.encoding,
            str(info.segments),
            str(info.remaining),
        )
    if not found:
        console.print(f"Aucun message à la {unit} {stage}.")
        return
    console.print(table)


def _due_label(offset: int, programme: str) -> str:
    if programme == "pregnancy":
        return f"EDD {offset:+d} j"
    return f"J+{offset}"


@content_app.command("fan-out")
def fan_out(
    day: Annotated[
        str | None, typer.Option(help="Jour (AAAA-MM-JJ); défaut: aujourd'hui et le rattrapage.")
    ] = None,
) -> None:
    """Queue the programme messages due on a day now, as beat does (safe to repeat)."""
    from outreach.programmes import fanout

    results = [fanout.run(day=date.fromisoformat(day))] if day else fanout.run_window()
    for result in results:
        console.print(
            f"{result.day}: {result.inserted} messages mis en file "
            f"({result.messages} au programme, {result.batches} lots, {result.seconds:.1f} s)"
        )

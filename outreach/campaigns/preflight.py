"""The composer's live preflight: who, in which language, how many SMS, at what cost, what it reads.

Read-only and quick enough to run on every pause in typing: the audience is counted
by `outreach.programmes.costs` in one grouped query, and three samples come from two
small queries (one per language). Nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import Date, bindparam, text
from sqlmodel import Session

from messages import texts as content_texts
from messages.encoding import gsm_safe, is_gsm7, segment_info
from outreach.campaigns.placeholders import Template, literal, parse
from outreach.campaigns.schemas import AudienceIn, PreflightIn
from outreach.config import get_settings
from outreach.encryption import keys
from outreach.outbox import bodies
from outreach.programmes import costs
from outreach.programmes.fanout import ADDRESSING, LANGUAGE, RECIPIENT_JOINS, TO_NUMBER
from outreach.redis import get_redis
from outreach.registry.phones import mask
from outreach.timeutil import local_today

LANGUAGES = ("fr", "bm")
SAMPLES = 3
LANGUAGE_NAMES = {"fr": "français", "bm": "bambara"}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LanguageInfo:
    """How the message travels in one language (placeholders at their longest)."""

    language: str
    recipients: int
    encoding: str
    segments: int
    # Characters still free in the last SMS before another one is needed.
    chars_left: int
    # Characters that force UCS-2 (70 characters per SMS instead of 160).
    ucs2_chars: list[str] = field(default_factory=list)
    warning: str | None = None
    # The same text in GSM-7 only, offered when `ucs2_chars` is not empty.
    gsm_safe_text: str | None = None
    # Recipients whose language has no text of its own receive the French one.
    falls_back_to_french: bool = False
    cost_xof: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Sample:
    language: str
    to: str
    addressing: str
    text: str
    segments: int


@dataclass(frozen=True, slots=True)
class CampaignPreflight:
    recipients: int
    by_language: dict[str, LanguageInfo]
    cost_xof: Decimal
    samples: list[Sample]
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (XOF as a number rounded to the franc)."""
        return {
            "recipients": self.recipients,
            "cost_xof": float(round(self.cost_xof)),
            "by_language": {
                lang: {
                    "recipients": info.recipients,
                    "encoding": info.encoding,
                    "segments": info.segments,
                    "chars_left": info.chars_left,
                    "ucs2_chars": info.ucs2_chars,
                    "warning": info.warning,
                    "gsm_safe_text": info.gsm_safe_text,
                    "falls_back_to_french": info.falls_back_to_french,
                    "cost_xof": float(round(info.cost_xof)),
                }
                for lang, info in self.by_language.items()
            },
            "samples": [
                {
                    "language": s.language,
                    "to": s.to,
                    "addressing": s.addressing,
                    "text": s.text,
                    "segments": s.segments,
                }
                for s in self.samples
            ],
            "problems": self.problems,
        }


def rewrite_gsm_safe(text_: str, language: str) -> str:
    """`text_` in GSM-7 only (ɛ → è, « » → ", œ → oe ...): one SMS holds 160 characters again."""
    return gsm_safe(text_, language)


def to_audience(audience: AudienceIn) -> costs.Audience:
    """The cost model's audience for a campaign's."""
    return costs.Audience(
        site_ids=tuple(audience.site_ids),
        programme=audience.programme,
        stage_from=audience.stage_from,
        stage_to=audience.stage_to,
        stage_unit=audience.stage_unit,
        languages=tuple(audience.languages),
        displaced=audience.displaced,
        appointment_kind=audience.appointment_kind,
        appointment_within_days=audience.appointment_within_days,
    )


def templates(message: PreflightIn) -> dict[str, Template]:
    """The text each language sends, parsed (a content key's texts are literal)."""
    if message.content_key:
        setting = get_settings().content_gsm_safe
        item = content_texts.get(message.content_key)
        return {
            lang: literal(item.text(lang, gsm_safe=setting.get(lang, True))) for lang in LANGUAGES
        }
    written = message.texts or {}
    out = {lang: parse(written[lang]) for lang in LANGUAGES if lang in written}
    if "fr" in out:
        out.setdefault("bm", out["fr"])
    return out


def _ucs2_warning(chars: list[str], language: str) -> str:
    shown = ", ".join(f"« {c} »" for c in chars)
    return (
        f"Texte {LANGUAGE_NAMES.get(language, language)}: {shown} "
        f"{'impose' if len(chars) == 1 else 'imposent'} l'encodage UCS-2 "
        "(70 caractères par SMS au lieu de 160): le coût double ou plus. "
        "La réécriture sans ces caractères est proposée."
    )


# While staff type, only the text changes: the audience's breakdown is kept this long
# so that each pause in typing prices the new text without counting 100,000 women again.
GROUPS_CACHE_SECONDS = 60
_GROUPS_PREFIX = "outreach:preflight:v1:"


def audience_groups(
    session: Session, *, audience: costs.Audience, day: date
) -> costs.AudienceGroups:
    """The audience's recipients per language, addressing and prefix (cached briefly)."""
    key = _GROUPS_PREFIX + hashlib.sha256(f"{day.isoformat()}|{audience!r}".encode()).hexdigest()
    try:
        cached = get_redis().get(key)
    except RedisError:
        cached = None
    if cached is not None:
        return [(str(a), str(b), str(c), int(d)) for a, b, c, d in json.loads(cached)]
    groups = costs.audience_groups(session, audience=audience, day=day)
    try:
        get_redis().set(key, json.dumps(groups), ex=GROUPS_CACHE_SECONDS)
    except RedisError:
        log.warning("preflight cache unavailable: audience counted on every preview")
    return groups


def preflight(
    session: Session, *, draft: PreflightIn, day: date | None = None
) -> CampaignPreflight:
    """Recipients per language, encoding, segments, chars left, cost, samples; writes nothing."""
    day = day or local_today()
    audience = to_audience(draft.audience)
    parsed = templates(draft)
    problems: list[str] = []
    groups = audience_groups(session, audience=audience, day=day)
    if parsed:
        budget = {lang: t.budgeted() for lang, t in parsed.items()}
        priced = costs.preflight(
            session,
            audience=audience,
            texts=None if draft.content_key else budget,
            key=draft.content_key,
            day=day,
            as_written=True,
            groups=groups,
        )
        counts = {lang: c.recipients for lang, c in priced.by_language.items()}
        cost = {lang: c.cost_xof for lang, c in priced.by_language.items()}
    else:
        problems.append("le message est vide")
        counts = defaultdict(int)
        for language, _addressing, _prefix, count in groups:
            counts[language] += count
        cost = {}
    by_language: dict[str, LanguageInfo] = {}
    own = set((draft.texts or {}).keys()) if not draft.content_key else set(LANGUAGES)
    for lang in sorted(set(counts) | set(parsed)):
        if lang not in LANGUAGES:
            continue
        template = parsed.get(lang)
        body = template.budgeted() if template else ""
        info = segment_info(body)
        ucs2 = sorted({c for c in body if not is_gsm7(c)})
        source = (draft.texts or {}).get(lang) or (draft.texts or {}).get("fr") or ""
        by_language[lang] = LanguageInfo(
            language=lang,
            recipients=counts.get(lang, 0),
            encoding=info.encoding,
            segments=info.segments if body else 0,
            chars_left=info.remaining,
            ucs2_chars=ucs2,
            warning=_ucs2_warning(ucs2, lang) if ucs2 else None,
            gsm_safe_text=rewrite_gsm_safe(source, lang) if ucs2 and source else None,
            falls_back_to_french=bool(template) and lang not in own,
            cost_xof=cost.get(lang, Decimal(0)),
        )
    recipients = sum(counts.values())
    if recipients == 0:
        problems.append("aucune bénéficiaire ne correspond à ce public")
    return CampaignPreflight(
        recipients=recipients,
        by_language=by_language,
        cost_xof=sum(cost.values(), Decimal(0)),
        samples=samples(session, audience=audience, parsed=parsed, day=day) if parsed else [],
        problems=problems,
    )


def _select(
    session: Session, where: list[str], params: dict[str, Any], columns: str, tail: str
) -> Any:
    sql = f"""SELECT {columns} FROM beneficiary b
        {RECIPIENT_JOINS}
        LEFT JOIN site v ON v.id = b.village_id
        WHERE {" AND ".join(where)} AND ({TO_NUMBER}) IS NOT NULL {tail}"""  # noqa: S608 - our own fragments, values bound
    statement = text(sql).bindparams(
        *(bindparam(name, type_=Date) for name in costs.DATE_PARAMS if name in params)
    )
    return session.execute(statement, params)


# Her name as it heads her messages (GSM-safe, short): the same value the outbox insert reads.
ADDRESSEE = "(SELECT MAX(ea.addressee) FROM enrollment ea WHERE ea.beneficiary_id = b.id)"


def samples(
    session: Session, *, audience: costs.Audience, parsed: dict[str, Template], day: date
) -> list[Sample]:
    """Up to three messages exactly as they will be sent, drawn from both languages."""
    settings = get_settings()
    drawn: list[list[Any]] = []
    # The audience's conditions once (a site filter walks the site tree), one language each.
    where, params = costs.audience_conditions(session, audience, day)
    for lang in LANGUAGES:
        if audience.languages and lang not in audience.languages:
            continue
        rows = _select(
            session,
            [*where, f"({LANGUAGE}) = :sample_language"],
            {**params, "sample_language": lang},
            f"({LANGUAGE}) AS language, ({ADDRESSING}) AS addressing, ({TO_NUMBER}) AS to_number,"
            f" {ADDRESSEE} AS addressee, v.name AS site",
            f"ORDER BY b.id LIMIT {SAMPLES}",
        ).all()
        drawn.append(list(rows))
    picked: list[Any] = []
    # Alternate languages so a bilingual campaign shows both.
    while len(picked) < SAMPLES and any(drawn):
        for rows in drawn:
            if rows and len(picked) < SAMPLES:
                picked.append(rows.pop(0))
    out = []
    for row in picked:
        template = parsed.get(row.language) or parsed["fr"]
        # Raw SQL reads the stored ciphertext.
        name = keys.decrypt(row.addressee) if row.addressee else ""
        body = template.render({"prenom": bodies.first_word(name), "site": row.site or ""})
        if row.addressing != "own":
            before, after = content_texts.address_parts(
                row.language,
                relay=row.addressing == "chw",
                gsm_safe=settings.content_gsm_safe.get(row.language, True),
            )
            body = before + name + after + body
        out.append(
            Sample(
                language=row.language,
                # Raw SQL reads the stored ciphertext; three rows are opened here.
                to=mask(keys.decrypt(row.to_number)),
                addressing=row.addressing,
                text=body,
                segments=segment_info(body).segments,
            )
        )
    return out

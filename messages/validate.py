"""Check the content library: no gaps, one segment per programme message, sound reviews.

Pure Python, like the rest of `messages/`: the caller passes the settings that
matter (which languages are sent in their GSM-safe spelling, whether drafts may be
sent), so the same check runs in tests, in the CLI and at worker start.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from messages.encoding import SegmentInfo, is_gsm7, segment_info
from messages.schedule import ALLOWED_WEEKS, CADENCE, MAX_PER_WEEK, programme_week
from messages.texts import (
    ADDRESS_CHW,
    ADDRESS_SHARED,
    LANGUAGES,
    NAME_BUDGET,
    PROGRAMMES,
    TOPIC_SETS,
    Message,
)

Severity = Literal["error", "warning"]

# The longest name the address prefix may carry: NAME_BUDGET septets.
WORST_NAME = "W" * NAME_BUDGET


@dataclass(frozen=True, slots=True)
class Problem:
    severity: Severity
    programme: str
    key: str | None
    text: str

    def __str__(self) -> str:
        where = f"{self.programme}/{self.key}" if self.key else self.programme
        return f"{self.severity}: {where}: {self.text}"


def _prefixes(messages: Mapping[str, Message], language: str, gsm_safe: bool) -> list[str]:
    out = []
    for key in (ADDRESS_SHARED, ADDRESS_CHW):
        if key in messages:
            out.append(messages[key].text(language, gsm_safe=gsm_safe).format(name=WORST_NAME))
    return out


def sent_forms(
    messages: Mapping[str, Message], message: Message, language: str, *, gsm_safe: bool
) -> list[str]:
    """Every form `message` can take on a handset: alone, and behind each address prefix."""
    text = message.text(language, gsm_safe=gsm_safe)
    return [text, *(prefix + text for prefix in _prefixes(messages, language, gsm_safe))]


def worst_segment(
    messages: Mapping[str, Message], message: Message, language: str, *, gsm_safe: bool
) -> SegmentInfo:
    """The measure of the costliest form of `message` (most parts, then fewest units left)."""
    infos = [segment_info(t) for t in sent_forms(messages, message, language, gsm_safe=gsm_safe)]
    return max(infos, key=lambda i: (i.segments, -i.remaining))


def validate(
    messages: Mapping[str, Message],
    *,
    gsm_safe: Mapping[str, bool],
    send_drafts: bool,
) -> list[Problem]:
    """Every problem in the library; an empty list (or only warnings) means it may ship."""
    problems: list[Problem] = []
    for key in (ADDRESS_SHARED, ADDRESS_CHW):
        if key not in messages:
            problems.append(Problem("error", "operational", key, "missing address prefix"))
        elif "{name}" not in messages[key].texts["fr"]:
            problems.append(Problem("error", "operational", key, "must contain {name}"))
    for message in messages.values():
        problems.extend(_check_message(messages, message, gsm_safe))
    for programme in PROGRAMMES:
        problems.extend(_check_cadence(messages, programme, send_drafts=send_drafts))
    return problems


def _check_message(
    messages: Mapping[str, Message], message: Message, gsm_safe: Mapping[str, bool]
) -> list[Problem]:
    out: list[Problem] = []

    def add(severity: Severity, text: str) -> None:
        out.append(Problem(severity, message.programme, message.key, text))

    if message.approved and not (message.reviewer and message.reviewed_on):
        add("error", "approved without a reviewer and a date")
    missing = [f for f in ("bm", "bm_gsm") if f not in message.texts]
    if missing:
        add("error" if message.kind != "operational" else "warning", f"no {'/'.join(missing)}")
    if "bm_gsm" in message.texts and not is_gsm7(message.texts["bm_gsm"]):
        add("error", "bm_gsm has characters outside GSM-7")
    if message.offset_days is not None:
        week = programme_week(message.programme, message.offset_days)
        if week not in ALLOWED_WEEKS[message.programme]:
            add("error", f"due at week {week}, outside the programme")
    if message.kind == "operational":
        return out
    for language in LANGUAGES:
        safe = gsm_safe.get(language, True)
        info = worst_segment(messages, message, language, gsm_safe=safe)
        if info.segments > 1:
            spelling = "GSM-safe" if safe else "original"
            add(
                "error",
                f"{language} ({spelling} spelling) needs {info.segments} segments "
                f"({info.encoding}, {info.units} units with a {NAME_BUDGET}-character "
                "name prefix): one is the limit",
            )
    return out


def _check_cadence(
    messages: Mapping[str, Message], programme: str, *, send_drafts: bool
) -> list[Problem]:
    by_week: dict[int, list[Message]] = defaultdict(list)
    for message in messages.values():
        if message.programme == programme and message.offset_days is not None:
            by_week[programme_week(programme, message.offset_days)].append(message)
    out: list[Problem] = []
    for week in CADENCE[programme]:
        found = by_week.get(week, [])
        if not found:
            out.append(Problem("error", programme, None, f"gap: no message at week {week}"))
        elif not send_drafts and not any(m.approved for m in found):
            out.append(
                Problem("error", programme, None, f"gap: no approved message at week {week}")
            )
    for week, found in sorted(by_week.items()):
        if len(found) > MAX_PER_WEEK:
            keys = ", ".join(m.key for m in found)
            out.append(
                Problem(
                    "error",
                    programme,
                    None,
                    f"{len(found)} messages at week {week} ({keys}); at most {MAX_PER_WEEK}",
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class Summary:
    """One line of `outreach content check`: a programme in one language and spelling."""

    programme: str
    language: str
    gsm_safe: bool
    sent: bool
    count: int
    # Parts of every message sent to her own phone, and behind a name prefix (the
    # shared phone or the CHW relay, with a name of NAME_BUDGET characters).
    segments: int
    segments_addressed: int
    max_segments: int
    encodings: tuple[str, ...]
    missing_approvals: int


def summarise(messages: Mapping[str, Message], *, gsm_safe: Mapping[str, bool]) -> list[Summary]:
    """Per programme or topic set, language and spelling: how many parts its messages cost."""
    rows: list[Summary] = []
    for programme in (*PROGRAMMES, *TOPIC_SETS):
        chosen = [m for m in messages.values() if m.programme == programme]
        if not chosen:
            continue
        for language in LANGUAGES:
            for safe in (True, False):
                plain = [segment_info(m.text(language, gsm_safe=safe)) for m in chosen]
                worst = [worst_segment(messages, m, language, gsm_safe=safe) for m in chosen]
                rows.append(
                    Summary(
                        programme=programme,
                        language=language,
                        gsm_safe=safe,
                        sent=gsm_safe.get(language, True) == safe,
                        count=len(chosen),
                        segments=sum(i.segments for i in plain),
                        segments_addressed=sum(i.segments for i in worst),
                        max_segments=max(i.segments for i in worst),
                        encodings=tuple(sorted({i.encoding for i in plain})),
                        missing_approvals=sum(1 for m in chosen if not m.approved),
                    )
                )
    return rows

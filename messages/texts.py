"""Load the content library from its data files and render texts.

Pure Python: nothing here touches the web, the database or the queue.

A content file is YAML with a `messages` list and, for programmes and topic sets,
a header saying which one it holds:

    programme: pregnancy          # or `topic: malaria`; neither: operational texts
    messages:
      - key: preg_w08
        version: 1
        due: {week: 8}            # pregnancy week, or {age_days: N} / {age_weeks: N}
        topics: [antenatal_care]
        review: {status: draft, reviewer: null, date: null}
        texts: {fr: "...", bm: "...", bm_gsm: "..."}
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from messages.encoding import gsm_safe as to_gsm_safe
from messages.encoding import segment_info

CONTENT_DIR = Path(__file__).parent / "content"
LANGUAGES = ("fr", "bm")
# Texts a message may carry: Bambara twice, in the standard and the GSM-safe spelling.
TEXT_FIELDS = ("fr", "bm", "bm_gsm")

PROGRAMMES = ("pregnancy", "infant")
TOPIC_SETS = ("hygiene", "covid19", "malaria")
OPERATIONAL = "operational"

REVIEW_STATUSES = ("draft", "approved")
APPROVED = "approved"

# Values the service knows how to fill. Programme and topic texts carry none: the
# fan-out sends them verbatim (set-based SQL), and a name goes in the address prefix.
KNOWN_PLACEHOLDERS = frozenset(
    {
        "name",
        "child_name",
        "code",
        "date",
        "edd",
        "weeks",
        "age",
        "village",
        "chw_name",
        "chw_phone",
        "phone",
        "keyword",
        "count",
        "kind",
        "place",
    }
)

# Septets kept for a name in "Pour {name}: ": what the 1-segment check reserves.
NAME_BUDGET = 20

# Operational keys that address a programme message to someone other than the owner.
ADDRESS_SHARED = "address_shared"
ADDRESS_CHW = "address_chw"


class ContentError(ValueError):
    """A content file is malformed or a message is missing."""


@dataclass(frozen=True, slots=True)
class Message:
    key: str
    version: int
    texts: dict[str, str]
    review_status: str
    programme: str = OPERATIONAL
    # Days from the anchor (EDD for a pregnancy, birth for an infant); None: not scheduled.
    offset_days: int | None = None
    due: dict[str, int] = field(default_factory=dict)
    topics: tuple[str, ...] = ()
    reviewer: str | None = None
    reviewed_on: date | None = None
    source: str = ""

    @property
    def approved(self) -> bool:
        return self.review_status == APPROVED

    @property
    def kind(self) -> str:
        """`programme`, `topic` or `operational`."""
        if self.programme in PROGRAMMES:
            return "programme"
        if self.programme in TOPIC_SETS:
            return "topic"
        return OPERATIONAL

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(
            name
            for text in self.texts.values()
            for _, name, _, _ in string.Formatter().parse(text)
            if name is not None
        )

    def text(self, language: str, *, gsm_safe: bool = True) -> str:
        """The text as sent in `language`: its GSM-safe spelling unless told otherwise."""
        if language == "bm":
            if gsm_safe and "bm_gsm" in self.texts:
                return self.texts["bm_gsm"]
            if "bm" in self.texts:
                return to_gsm_safe(self.texts["bm"], "bm") if gsm_safe else self.texts["bm"]
        french = self.texts["fr"]
        return to_gsm_safe(french, "fr") if gsm_safe else french


def offset_days(programme: str, due: dict[str, int]) -> int:
    """Days from the anchor date at which a due point falls."""
    if programme == "pregnancy":
        if set(due) != {"week"}:
            raise ContentError(f"a pregnancy message is due at a week, not {due}")
        # The anchor is the EDD, reached at 40 weeks.
        return (int(due["week"]) - 40) * 7
    if programme == "infant":
        if set(due) == {"age_days"}:
            return int(due["age_days"])
        if set(due) == {"age_weeks"}:
            return int(due["age_weeks"]) * 7
        raise ContentError(f"an infant message is due at age_days or age_weeks, not {due}")
    raise ContentError(f"{programme} has no schedule")


def _review(item: dict[str, Any], where: str) -> tuple[str, str | None, date | None]:
    review = item.get("review") or {}
    status = str(review.get("status", "draft"))
    if status not in REVIEW_STATUSES:
        raise ContentError(f"{where}: review status must be draft or approved, not {status!r}")
    raw_date = review.get("date")
    reviewed_on: date | None
    if raw_date is None or isinstance(raw_date, date):
        reviewed_on = raw_date
    else:
        try:
            reviewed_on = date.fromisoformat(str(raw_date))
        except ValueError as exc:
            raise ContentError(f"{where}: review date {raw_date!r} is not YYYY-MM-DD") from exc
    reviewer = review.get("reviewer")
    return status, (str(reviewer) if reviewer else None), reviewed_on


def parse(path: Path) -> dict[str, Message]:
    """The messages of one content file, by key; raises ContentError when malformed."""
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise ContentError(f"{path.name}: expected a top-level 'messages' list")
    programme = str(data.get("programme") or data.get("topic") or OPERATIONAL)
    if programme not in (*PROGRAMMES, *TOPIC_SETS, OPERATIONAL):
        raise ContentError(f"{path.name}: unknown programme or topic {programme!r}")
    out: dict[str, Message] = {}
    for item in data["messages"]:
        if not isinstance(item, dict):
            raise ContentError(f"{path.name}: every message is a mapping")
        key = item.get("key")
        texts = item.get("texts") or {}
        if not key or "fr" not in texts:
            raise ContentError(f"{path.name}: every message needs a key and a French text")
        where = f"{path.name}: {key}"
        if key in out:
            raise ContentError(f"{path.name}: duplicate key {key}")
        unknown_fields = set(texts) - set(TEXT_FIELDS)
        if unknown_fields:
            raise ContentError(f"{where}: unknown text fields {sorted(unknown_fields)}")
        due = {str(k): int(v) for k, v in (item.get("due") or {}).items()}
        if programme in PROGRAMMES:
            offset: int | None = offset_days(programme, due)
        elif due:
            raise ContentError(f"{where}: only programme messages have a due point")
        else:
            offset = None
        status, reviewer, reviewed_on = _review(item, where)
        message = Message(
            key=str(key),
            version=int(item.get("version", 1)),
            texts={str(k): str(v) for k, v in texts.items()},
            review_status=status,
            programme=programme,
            offset_days=offset,
            due=due,
            topics=tuple(str(t) for t in item.get("topics") or ()),
            reviewer=reviewer,
            reviewed_on=reviewed_on,
            source=path.name,
        )
        unknown = message.placeholders - KNOWN_PLACEHOLDERS
        if unknown:
            raise ContentError(f"{where} uses unknown placeholders {sorted(unknown)}")
        if message.kind != OPERATIONAL and message.placeholders:
            raise ContentError(
                f"{where}: programme and topic texts carry no placeholders "
                f"(found {sorted(message.placeholders)}); the name goes in the address prefix"
            )
        out[message.key] = message
    return out


def load_dir(directory: Path) -> dict[str, Message]:
    """Every message of every content file in `directory`, by key."""
    messages: dict[str, Message] = {}
    for path in sorted(directory.glob("*.yaml")):
        for key, message in parse(path).items():
            if key in messages:
                raise ContentError(
                    f"duplicate key {key} in {messages[key].source} and {message.source}"
                )
            messages[key] = message
    return messages


@lru_cache
def load() -> dict[str, Message]:
    """Every message of every content file, by key."""
    return load_dir(CONTENT_DIR)


def get(key: str) -> Message:
    """One message by key; ContentError when the library has none."""
    try:
        return load()[key]
    except KeyError as exc:
        raise ContentError(f"no message {key!r} in the content library") from exc


def render(key: str, language: str, *, gsm_safe: bool = True, **values: str) -> str:
    """The text of `key` in `language` with its placeholders filled."""
    return get(key).text(language, gsm_safe=gsm_safe).format(**values)


def topic_set(name: str) -> list[Message]:
    """The messages of a topic set (hygiene, covid19, malaria), in file order."""
    if name not in TOPIC_SETS:
        raise ContentError(f"unknown topic set {name!r}")
    return [m for m in load().values() if m.programme == name]


def addressee(name: str, language: str) -> str:
    """A name as it can head an SMS: GSM-safe and at most NAME_BUDGET septets."""
    clean = " ".join(to_gsm_safe(name, language).replace("?", "").split())
    # Whole words first ("Awa Traoré" rather than "Awa Tra"), then a hard cut.
    words: list[str] = []
    for word in clean.split(" "):
        candidate = " ".join([*words, word])
        if segment_info(candidate).units > NAME_BUDGET:
            break
        words.append(word)
    if words:
        return " ".join(words)
    cut = ""
    for char in clean:
        if segment_info(cut + char).units > NAME_BUDGET:
            break
        cut += char
    return cut


def address_parts(language: str, *, relay: bool, gsm_safe: bool = True) -> tuple[str, str]:
    """The text before and after the name in an address prefix ("Pour ", ": ")."""
    key = ADDRESS_CHW if relay else ADDRESS_SHARED
    template = get(key).text(language, gsm_safe=gsm_safe)
    before, marker, after = template.partition("{name}")
    if not marker:
        raise ContentError(f"{key} must contain {{name}}")
    return before, after

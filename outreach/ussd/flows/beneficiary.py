"""The menus of a phone that is not a CHW's: the women themselves, or someone unknown."""

from __future__ import annotations

from typing import Any

from rapidfuzz import process
from sqlmodel import select

from messages.texts import load as load_texts
from outreach.content import service as content_service
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary
from outreach.sites.models import Site, SiteLevel
from outreach.timeutil import local_today
from outreach.ussd import advice
from outreach.ussd.engine import Ctx, End, Reprompt, Step, ask, choice, menu, pick
from outreach.ussd.flows import parse
from outreach.ussd.flows.common import LANGUAGE_OPTIONS, chw_contact

HOME = "ben_menu"
ADVICE_TOPICS = ("stage", "hygiene", "feeding", "covid19", "malaria")
# A typed village name this close to a known village is taken as that village.
VILLAGE_MATCH = 85


def start(ctx: Ctx, women: list[Beneficiary]) -> str:
    """One woman on the phone: her menu; several: who is calling; none: how to join."""
    if not women:
        ctx.state.home = "unknown"
        return "unknown"
    if len(women) == 1:
        return _select(ctx, women[0])
    ctx.data["women"] = [w.id for w in women]
    return "who"


def _select(ctx: Ctx, woman: Beneficiary) -> str:
    ctx.data["ben_id"] = woman.id
    ctx.state.language = woman.language
    ctx.state.home = HOME
    return HOME


def _ben(ctx: Ctx) -> Beneficiary:
    ben = ctx.db.get(Beneficiary, ctx.data.get("ben_id"))
    if ben is None:
        raise Reprompt("err_not_found")
    return ben


def who_items(ctx: Ctx) -> list[tuple[Any, str]]:
    items = []
    for ben_id in ctx.data.get("women") or []:
        ben = ctx.db.get(Beneficiary, ben_id)
        if ben is not None:
            items.append((ben.id, ben.name))
    return items


def after_who(ctx: Ctx) -> str:
    return _select(ctx, _ben(ctx))


def menu_prompt(ctx: Ctx) -> str:
    return ctx.text("ben_menu", name=_ben(ctx).name)


def on_menu(ctx: Ctx, answer: str) -> str | End:
    index = choice(answer, 6)
    if index == 5:
        return End("bye")
    return ("appointments", "advice", "ben_lang", "stop_confirm", "my_chw")[index]


def appointments_prompt(ctx: Ctx) -> str:
    # Appointments arrive with the clinic schedule; until then there are none to show.
    return ctx.text("appointments_none")


def only_navigation(_ctx: Ctx, _answer: str) -> str:
    raise Reprompt("choice_invalid")


def on_advice(ctx: Ctx, answer: str) -> str:
    ctx.data["topic"] = ADVICE_TOPICS[choice(answer, len(ADVICE_TOPICS))]
    return "advice_show"


def advice_prompt(ctx: Ctx) -> str:
    topic = ctx.data.get("topic", "stage")
    language = ctx.state.language
    texts: list[str] = []
    if topic == "stage":
        ben = _ben(ctx)
        assert ben.id is not None
        enrollment = registry_service.current_enrollment(ctx.db, beneficiary_id=ben.id)
        if enrollment is not None:
            text = advice.stage_text(
                enrollment.programme,
                anchor=enrollment.anchor_date,
                today=local_today(),
                language=language,
                messages=content_service.with_approvals(ctx.db, load_texts()).values(),
            )
            texts = [text] if text else []
    else:
        ben = _ben(ctx)
        assert ben.id is not None
        enrollment = registry_service.current_enrollment(ctx.db, beneficiary_id=ben.id)
        texts = advice.topic_texts(
            topic,
            language,
            content_service.with_approvals(ctx.db, load_texts()).values(),
            programme=enrollment.programme if enrollment else None,
        )
    if not texts:
        return ctx.text("advice_none")
    return "\n".join([*texts, ctx.text("nav_back_home")])


def on_language(ctx: Ctx, answer: str) -> str:
    language = LANGUAGE_OPTIONS[choice(answer, 2)]
    ben = _ben(ctx)
    assert ben.id is not None
    registry_service.set_language(ctx.db, beneficiary_id=ben.id, language=language)
    ctx.state.language = language
    return HOME


def on_stop(ctx: Ctx, answer: str) -> str | End:
    if choice(answer, 2) == 1:
        return HOME
    ben = _ben(ctx)
    assert ben.id is not None
    registry_service.opt_out_beneficiary(ctx.db, beneficiary_id=ben.id)
    return End("stopped")


def my_chw_prompt(ctx: Ctx) -> str:
    ben = _ben(ctx)
    contact = chw_contact(ctx, ben)
    if contact is None:
        return ctx.text("my_chw_none")
    return ctx.text("my_chw", chw_name=contact[0], chw_phone=contact[1])


# --- an unknown phone: a short explanation, and self-registration --------------------


def on_unknown(ctx: Ctx, answer: str) -> str | End:
    index = choice(answer, 3)
    if index == 0:
        ctx.data["self"] = {}
        return "self_name"
    if index == 1:
        return "unknown_lang"
    return End("bye")


def on_unknown_language(ctx: Ctx, answer: str) -> str:
    ctx.state.language = LANGUAGE_OPTIONS[choice(answer, 2)]
    return "unknown"


def on_self_name(ctx: Ctx, answer: str) -> str:
    ctx.data["self"] = {"name": parse.name(ctx, answer)}
    return "self_kind"


def on_self_kind(ctx: Ctx, answer: str) -> str:
    return ("self_weeks", "self_child")[choice(answer, 2)]


def on_self_weeks(ctx: Ctx, answer: str) -> str:
    self_reg = ctx.data.setdefault("self", {})
    self_reg.pop("child_months", None)
    self_reg["weeks"] = parse.weeks(ctx, answer)
    return "self_village"


def on_self_child(ctx: Ctx, answer: str) -> str:
    self_reg = ctx.data.setdefault("self", {})
    self_reg.pop("weeks", None)
    self_reg["child_months"] = parse.child_months(ctx, answer)
    return "self_village"


def on_self_village(ctx: Ctx, answer: str) -> str:
    ctx.data.setdefault("self", {})["village"] = parse.place(ctx, answer)
    return "self_consent"


def _known_village(ctx: Ctx, typed: str) -> int | None:
    villages = {
        site.id: site.name
        for site in ctx.db.exec(select(Site).where(Site.level == SiteLevel.VILLAGE))
    }
    best = process.extractOne(typed, villages, score_cutoff=VILLAGE_MATCH)
    return best[2] if best else None


def on_self_consent(ctx: Ctx, answer: str) -> End:
    if choice(answer, 2) == 1:
        return End("self_no_consent")
    self_reg = ctx.data.get("self") or {}
    if "name" not in self_reg or "village" not in self_reg:
        return End("unavailable")
    registry_service.self_register(
        ctx.db,
        phone=ctx.state.phone,
        name=self_reg["name"],
        language=ctx.state.language if ctx.state.language in ("fr", "bm") else "fr",
        weeks=self_reg.get("weeks"),
        child_months=self_reg.get("child_months"),
        village_text=self_reg["village"],
        village_id=_known_village(ctx, self_reg["village"]),
    )
    return End("self_done")


ADVICE_MENU = menu(
    "advice",
    [(f"advice_{topic}", "advice_show") for topic in ADVICE_TOPICS],
)

STEPS: dict[str, Step] = {
    "who": pick("who", who_items, save="ben_id", then=after_who),
    HOME: Step(prompt=menu_prompt, on_answer=on_menu, root=True, resumable=False),
    "appointments": Step(prompt=appointments_prompt, on_answer=only_navigation),
    "advice": Step(prompt=ADVICE_MENU.prompt, on_answer=on_advice),
    "advice_show": Step(prompt=advice_prompt, on_answer=only_navigation),
    "ben_lang": Step(prompt=ask("language_menu_2"), on_answer=on_language),
    "stop_confirm": Step(prompt=ask("stop_confirm"), on_answer=on_stop),
    "my_chw": Step(prompt=my_chw_prompt, on_answer=only_navigation),
    "unknown": Step(prompt=ask("unknown"), on_answer=on_unknown, root=True, resumable=False),
    "unknown_lang": Step(prompt=ask("language_menu_2"), on_answer=on_unknown_language),
    "self_name": Step(prompt=ask("self_name"), on_answer=on_self_name),
    "self_kind": Step(prompt=ask("self_kind"), on_answer=on_self_kind),
    "self_weeks": Step(prompt=ask("self_weeks"), on_answer=on_self_weeks),
    "self_child": Step(prompt=ask("self_child"), on_answer=on_self_child),
    "self_village": Step(prompt=ask("self_village"), on_answer=on_self_village),
    "self_consent": Step(prompt=ask("self_consent"), on_answer=on_self_consent),
}

"""The USSD menus, declared as steps. Each step: a prompt and an answer handler."""

from __future__ import annotations

import re
from datetime import date

from outreach.chws import service as chw_service
from outreach.chws.models import Chw
from outreach.registry import phones
from outreach.registry import service as registry_service
from outreach.timeutil import local_today
from outreach.ussd.engine import Ctx, End, Flow, Reprompt, Step, ask

NAME_MAX = 40
_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '\-.][^\W\d_]+)*\.?$")


def start(ctx: Ctx) -> str | End:
    """CHWs start at the PIN screen; other phones are told how to join."""
    chw = chw_service.get_by_phone(ctx.db, e164=ctx.state.phone)
    if chw is None:
        return End("not_registered")
    ctx.state.language = chw.language
    ctx.state.data.update(chw_id=chw.id, chw_name=chw.name)
    return "pin"


def _chw(ctx: Ctx) -> Chw:
    chw = ctx.db.get(Chw, ctx.state.data["chw_id"])
    assert chw is not None
    return chw


def on_pin(ctx: Ctx, answer: str) -> str | End:
    if not chw_service.valid_pin_format(answer):
        raise Reprompt("pin_format")
    chw = _chw(ctx)
    try:
        ok = chw_service.check_pin(ctx.db, chw=chw, pin=answer)
    except chw_service.PinLocked:
        return End("locked")
    if ok:
        return "menu"
    if chw.locked_until is not None:
        return End("locked")
    raise Reprompt("pin_wrong", left=chw_service.MAX_PIN_ATTEMPTS - chw.failed_pin_attempts)


def on_menu(ctx: Ctx, answer: str) -> str | End:
    if answer == "1":
        ctx.state.data["reg"] = {}
        return "reg_name"
    if answer == "2":
        return End("bye")
    raise Reprompt("choice_invalid")


def on_name(ctx: Ctx, answer: str) -> str:
    name = " ".join(answer.split())
    if not name:
        raise Reprompt("err_name_empty")
    if len(name) > NAME_MAX:
        raise Reprompt("err_name_long")
    if len(name) < 2 or not _NAME_RE.match(name):
        raise Reprompt("err_name_chars")
    ctx.state.data["reg"]["name"] = name
    return "reg_phone"


def on_phone(ctx: Ctx, answer: str) -> str:
    try:
        ctx.state.data["reg"]["phone"] = phones.normalize(answer)
    except phones.InvalidPhoneNumber:
        raise Reprompt("err_phone") from None
    return "reg_weeks"


def on_weeks(ctx: Ctx, answer: str) -> str:
    if not answer.isdigit() or len(answer) > 2:
        raise Reprompt("err_weeks")
    weeks = int(answer)
    if not registry_service.MIN_PREGNANCY_WEEKS <= weeks <= registry_service.MAX_PREGNANCY_WEEKS:
        raise Reprompt("err_weeks")
    edd = registry_service.edd_from_weeks(weeks=weeks, today=local_today())
    ctx.state.data["reg"].update(weeks=weeks, edd=edd.isoformat())
    return "reg_confirm"


def confirm_prompt(ctx: Ctx) -> str:
    reg = ctx.state.data["reg"]
    edd = date.fromisoformat(reg["edd"])
    return ctx.text(
        "reg_confirm",
        name=reg["name"],
        phone=reg["phone"],
        weeks=reg["weeks"],
        edd=edd.strftime("%d/%m/%Y"),
    )


def on_confirm(ctx: Ctx, answer: str) -> End:
    if answer == "2":
        return End("reg_cancelled")
    if answer != "1":
        raise Reprompt("choice_invalid")
    reg = ctx.state.data["reg"]
    registration = registry_service.register_pregnancy(
        ctx.db,
        name=reg["name"],
        phone=reg["phone"],
        weeks=reg["weeks"],
        chw_id=ctx.state.data["chw_id"],
        language=ctx.state.language,
    )
    return End("reg_done", {"code": registration.beneficiary.code})


def _welcome(ctx: Ctx) -> str:
    return ctx.text("welcome_chw", name=ctx.state.data.get("chw_name", ""))


MAIN_FLOW = Flow(
    start=start,
    steps={
        "pin": Step(prompt=_welcome, on_answer=on_pin),
        "menu": Step(prompt=ask("menu"), on_answer=on_menu),
        "reg_name": Step(prompt=ask("reg_name"), on_answer=on_name),
        "reg_phone": Step(prompt=ask("reg_phone"), on_answer=on_phone),
        "reg_weeks": Step(prompt=ask("reg_weeks"), on_answer=on_weeks),
        "reg_confirm": Step(prompt=confirm_prompt, on_answer=on_confirm),
    },
)

"""The CHW menus: PIN, registrations, births, losses, search, my women, transfers, language."""

from __future__ import annotations

from datetime import date
from typing import Any

from outreach.chws import service as chw_service
from outreach.chws.models import Chw
from outreach.registry import phones
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary, BeneficiaryStatus, PhoneKind
from outreach.sites.models import Site
from outreach.timeutil import local_today
from outreach.ussd.engine import (
    Ctx,
    End,
    Reprompt,
    Step,
    Target,
    ask,
    choice,
    field_step,
    menu,
    pick,
)
from outreach.ussd.flows import appointments as appointment_screens
from outreach.ussd.flows import parse
from outreach.ussd.flows.common import (
    LANGUAGE_OPTIONS,
    beneficiary_card,
    language_name,
    stage_line,
)

HOME = "menu"
CONSENT_KEY = "reg_consent"
# Bump when the consent text read aloud changes: each consent row keeps the version heard.
CONSENT_VERSION = 1
RECENT_LIMIT = 30


def start(ctx: Ctx, chw: Chw) -> str:
    """A CHW's session starts at the PIN."""
    ctx.state.language = chw.language
    ctx.data.update(chw_id=chw.id, chw_name=chw.name)
    return "pin"


def _chw(ctx: Ctx) -> Chw:
    chw = ctx.db.get(Chw, ctx.data["chw_id"])
    if chw is None:
        raise Reprompt("choice_invalid")
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
        ctx.state.home = HOME
        return HOME
    if chw.locked_until is not None:
        return End("locked")
    raise Reprompt("pin_wrong", left=chw_service.MAX_PIN_ATTEMPTS - chw.failed_pin_attempts)


def _welcome(ctx: Ctx) -> str:
    return ctx.text("welcome_chw", name=ctx.data.get("chw_name", ""))


# --- registration (pregnancy, or a mother with her infant) --------------------------


def _begin(kind: str) -> Target:
    def target(ctx: Ctx) -> str:
        ctx.data["reg"] = {"kind": kind}
        return "reg_name"

    return target


def _reg(ctx: Ctx) -> dict[str, Any]:
    reg = ctx.data.get("reg")
    if not isinstance(reg, dict):
        reg = ctx.data["reg"] = {"kind": "pregnancy"}
    return reg


def _save_reg(key: str, parser: Any, then: Target) -> Step:
    """A registration question: the parsed answer goes into the registration being built."""
    base = field_step(key, parser, save="_answer", then=then)

    def on_answer(ctx: Ctx, answer: str) -> str | End:
        target = base.on_answer(ctx, answer)
        _reg(ctx)[key.removeprefix("reg_").removeprefix("inf_")] = ctx.data.pop("_answer")
        return target

    return Step(prompt=base.prompt, on_answer=on_answer)


def on_phone_kind(ctx: Ctx, answer: str) -> str:
    index = choice(answer, 3)
    reg = _reg(ctx)
    reg["phone_kind"] = (PhoneKind.OWN, PhoneKind.SHARED, PhoneKind.NONE)[index]
    if index == 2:
        reg["phone"] = None
        return _after_phone(ctx)
    return "reg_phone"


def _after_phone(ctx: Ctx) -> str:
    return "inf_age_mode" if _reg(ctx)["kind"] == "infant" else "reg_preg_mode"


def _set_edd_from_weeks(ctx: Ctx, weeks: int) -> str:
    edd = registry_service.edd_from_weeks(weeks=weeks, today=local_today())
    _reg(ctx)["edd"] = edd.isoformat()
    return _after_stage(ctx)


def _after_stage(ctx: Ctx) -> str:
    # Adding a baby to a mother already registered needs nothing more about her.
    return "inf_sex" if _reg(ctx)["kind"] in ("infant", "add_infant") else "reg_village"


def on_months(ctx: Ctx, answer: str) -> str:
    months = parse.months(ctx, answer)
    return _set_edd_from_weeks(ctx, registry_service.weeks_from_months(months))


def on_weeks(ctx: Ctx, answer: str) -> str:
    return _set_edd_from_weeks(ctx, parse.weeks(ctx, answer))


def on_edd(ctx: Ctx, answer: str) -> str:
    _reg(ctx)["edd"] = parse.edd(ctx, answer)
    return _after_stage(ctx)


def on_child_dob(ctx: Ctx, answer: str) -> str:
    _reg(ctx)["birth_date"] = parse.child_birth_date(ctx, answer)
    return "inf_sex"


def on_child_weeks(ctx: Ctx, answer: str) -> str:
    weeks = parse.child_weeks(ctx, answer)
    born = registry_service.birth_date_from_age(weeks=weeks, today=local_today())
    _reg(ctx)["birth_date"] = born.isoformat()
    return "inf_sex"


def on_child_months(ctx: Ctx, answer: str) -> str:
    months = parse.child_months(ctx, answer)
    born = registry_service.birth_date_from_age(months=months, today=local_today())
    _reg(ctx)["birth_date"] = born.isoformat()
    return "inf_sex"


def on_sex(ctx: Ctx, answer: str) -> str:
    _reg(ctx)["sex"] = ("F", "M")[choice(answer, 2)]
    if _reg(ctx)["kind"] == "add_infant":
        return "add_inf_confirm"
    return "reg_village"


def my_villages(ctx: Ctx) -> list[tuple[Any, str]]:
    villages = chw_service.villages(ctx.db, chw_id=ctx.data["chw_id"])
    return [(v.id, v.name) for v in villages]


def _picked_village(ctx: Ctx, answer: str) -> tuple[int, str]:
    listed = ctx.data.get("_villages") or my_villages(ctx)
    if not listed:
        raise Reprompt("err_no_village")
    village_id, name = listed[choice(answer, len(listed))]
    return village_id, name


def on_village(ctx: Ctx, answer: str) -> str:
    reg = _reg(ctx)
    reg["village_id"], reg["village_name"] = _picked_village(ctx, answer)
    return "reg_lang"


def _village_prompt(ctx: Ctx) -> str:
    # Kept with the session: the answer and the summary need no second query.
    listed = my_villages(ctx)
    ctx.data["_villages"] = [[v, name] for v, name in listed]
    if not listed:
        return ctx.text("err_no_village")
    lines = [f"{i} {label}" for i, (_, label) in enumerate(listed, 1)]
    return "\n".join([ctx.text("reg_village"), *lines])


def on_reg_lang(ctx: Ctx, answer: str) -> str:
    _reg(ctx)["language"] = LANGUAGE_OPTIONS[choice(answer, 2)]
    return "reg_idp"


def on_idp(ctx: Ctx, answer: str) -> str:
    _reg(ctx)["displaced"] = choice(answer, 2) == 0
    return "reg_consent"


def on_consent(ctx: Ctx, answer: str) -> str | End:
    if choice(answer, 2) == 1:
        return End("reg_no_consent")
    _reg(ctx)["consent"] = True
    return "reg_summary"


def _village_name(ctx: Ctx, village_id: int | None) -> str:
    site = ctx.db.get(Site, village_id) if village_id is not None else None
    return site.name if site else "-"


def summary_prompt(ctx: Ctx) -> str:
    reg = _reg(ctx)
    # Look for her while the CHW reads the summary, so that the confirming hop (which
    # writes the registration) has one query less to make.
    reg["dup_ids"] = _likely_duplicates(ctx, reg)
    if reg.get("phone"):
        phone_line = phones.national(reg["phone"])
        if reg.get("phone_kind") == PhoneKind.SHARED:
            phone_line += " " + ctx.text("phone_shared_short")
    else:
        phone_line = ctx.text("phone_none_short")
    if reg["kind"] == "infant":
        stage = ctx.text(
            "stage_infant_born",
            date=date.fromisoformat(reg["birth_date"]).strftime("%d/%m/%Y"),
            sex=ctx.text("sex_girl" if reg.get("sex") == "F" else "sex_boy"),
        )
    else:
        edd = date.fromisoformat(reg["edd"])
        stage = ctx.text(
            "stage_pregnant",
            weeks=registry_service.weeks_from_edd(edd=edd, today=local_today()),
            edd=edd.strftime("%d/%m/%Y"),
        )
    return ctx.text(
        "reg_summary",
        name=reg["name"],
        phone=phone_line,
        stage=stage,
        village=reg.get("village_name") or _village_name(ctx, reg.get("village_id")),
        language=language_name(ctx, reg.get("language", "fr")),
        idp=ctx.text("word_yes" if reg.get("displaced") else "word_no"),
    )


def _anchor(reg: dict[str, Any]) -> date:
    return date.fromisoformat(reg.get("edd") or reg["birth_date"])


def _likely_duplicates(ctx: Ctx, reg: dict[str, Any]) -> list[int]:
    duplicates = registry_service.find_duplicates(
        ctx.db,
        name=reg["name"],
        phone=reg.get("phone"),
        village_id=reg.get("village_id"),
        anchor=_anchor(reg),
    )
    return [d.id for d in duplicates[:5] if d.id is not None]


def on_summary(ctx: Ctx, answer: str) -> str | End:
    if choice(answer, 2) == 1:
        return End("reg_cancelled")
    reg = _reg(ctx)
    duplicates = reg["dup_ids"] if "dup_ids" in reg else _likely_duplicates(ctx, reg)
    if duplicates:
        ctx.data["dup_ids"] = duplicates
        return "reg_duplicate"
    return _create(ctx)


def _consent(ctx: Ctx, reg: dict[str, Any]) -> registry_service.ConsentInfo:
    return registry_service.ConsentInfo(
        text_key=CONSENT_KEY,
        text_version=CONSENT_VERSION,
        language=ctx.state.language,
        chw_id=ctx.data["chw_id"],
    )


def _create(ctx: Ctx) -> End:
    reg = _reg(ctx)
    common: dict[str, Any] = {
        "name": reg["name"],
        "phone": reg.get("phone"),
        "phone_kind": reg.get("phone_kind", PhoneKind.OWN),
        "chw_id": ctx.data["chw_id"],
        "language": reg.get("language", "fr"),
        "village_id": reg.get("village_id"),
        "displaced": bool(reg.get("displaced")),
        "consent": _consent(ctx, reg),
    }
    if reg["kind"] == "infant":
        registration = registry_service.register_mother_with_infant(
            ctx.db,
            birth_date=date.fromisoformat(reg["birth_date"]),
            sex=reg.get("sex"),
            **common,
        )
    else:
        registration = registry_service.register_pregnancy(
            ctx.db, edd=date.fromisoformat(reg["edd"]), **common
        )
    _propose(ctx, registration.beneficiary.id)
    return End("reg_done", {"code": registration.beneficiary.code})


def _propose(ctx: Ctx, beneficiary_id: int | None) -> None:
    # Her visits from the schedules, proposed by a worker right after this hop commits.
    from outreach.appointments import service as appointments_service

    if beneficiary_id is not None:
        appointments_service.propose_after_commit(ctx.db, beneficiary_id=beneficiary_id)


def duplicate_prompt(ctx: Ctx) -> str:
    lines = [ctx.text("reg_duplicate")]
    ids = ctx.data.get("dup_ids") or []
    for i, ben_id in enumerate(ids, 1):
        other = ctx.db.get(Beneficiary, ben_id)
        if other is not None:
            village = _village_name(ctx, other.village_id)
            lines.append(f"{i} {other.name} {other.code} {village}")
    lines.append(f"{len(ids) + 1} {ctx.text('reg_duplicate_new')}")
    return "\n".join(lines)


def on_duplicate(ctx: Ctx, answer: str) -> End:
    ids = ctx.data.get("dup_ids") or []
    index = choice(answer, len(ids) + 1)
    if index == len(ids):
        return _create(ctx)
    existing = ctx.db.get(Beneficiary, ids[index])
    if existing is None:
        return _create(ctx)
    if existing.status == BeneficiaryStatus.PENDING:
        assert existing.id is not None
        reg = _reg(ctx)
        registry_service.confirm_pending(
            ctx.db,
            beneficiary_id=existing.id,
            chw_id=ctx.data["chw_id"],
            edd=date.fromisoformat(reg["edd"]) if reg.get("edd") else None,
            birth_date=date.fromisoformat(reg["birth_date"]) if reg.get("birth_date") else None,
            sex=reg.get("sex"),
            village_id=reg.get("village_id"),
            consent=_consent(ctx, reg),
        )
        return End("reg_linked_confirmed", {"code": existing.code})
    return End("reg_linked", {"code": existing.code})


# --- finding a beneficiary, and what can be done with her ---------------------------


def _find(purpose: str) -> Target:
    def target(ctx: Ctx) -> str:
        ctx.data["purpose"] = purpose
        ctx.data.pop("ben_id", None)
        return "find_mode"

    return target


def _found(ctx: Ctx, matches: list[Beneficiary]) -> str:
    if not matches:
        raise Reprompt("err_not_found")
    if len(matches) == 1:
        ctx.data["ben_id"] = matches[0].id
        return _after_found(ctx)
    ctx.data["found_ids"] = [m.id for m in matches]
    return "find_pick"


def _within_reach(ctx: Ctx, matches: list[Beneficiary]) -> list[Beneficiary]:
    """Only the women of her villages (or already hers): a CHW never browses other sites.

    A self-registered woman nobody has confirmed yet has no village nor CHW: any CHW
    she meets may find her and confirm her."""
    if not matches:
        return matches
    villages = {v.id for v in my_villages_sites(ctx)}
    chw_id = ctx.data["chw_id"]
    return [
        m
        for m in matches
        if m.village_id in villages
        or m.chw_id == chw_id
        or (m.status == BeneficiaryStatus.PENDING and m.village_id is None and m.chw_id is None)
    ]


def my_villages_sites(ctx: Ctx) -> list[Any]:
    return chw_service.villages(ctx.db, chw_id=ctx.data["chw_id"])


def on_find_phone(ctx: Ctx, answer: str) -> str:
    e164 = parse.phone(ctx, answer)
    return _found(ctx, _within_reach(ctx, registry_service.find_by_phone(ctx.db, e164=e164)))


def on_find_code(ctx: Ctx, answer: str) -> str:
    found = registry_service.find_by_code(ctx.db, code=parse.code(ctx, answer))
    matches = [found] if found else []
    # A displaced woman arrives from another site: taking her over needs her exact code,
    # which she carries (her welcome SMS), so knowing it is the proof of the hand-over.
    if ctx.data.get("purpose") != "transfer":
        matches = _within_reach(ctx, matches)
    return _found(ctx, matches)


def found_items(ctx: Ctx) -> list[tuple[Any, str]]:
    items = []
    for ben_id in ctx.data.get("found_ids") or []:
        ben = ctx.db.get(Beneficiary, ben_id)
        if ben is not None:
            items.append((ben.id, f"{ben.name} {ben.code}"))
    return items


def _after_found(ctx: Ctx) -> str:
    purpose = ctx.data.get("purpose", "view")
    ben = _ben(ctx)
    if purpose == "birth":
        if registry_service.active_pregnancy(ctx.db, beneficiary_id=ben.id or 0) is None:
            raise Reprompt("err_no_pregnancy")
        return "birth_date"
    if purpose == "loss":
        return "loss_confirm"
    if purpose == "add_infant":
        ctx.data["reg"] = {"kind": "add_infant"}
        return "inf_age_mode"
    if purpose == "appt":
        return "appt_ben"
    if purpose == "transfer":
        if ben.chw_id == ctx.data["chw_id"]:
            raise Reprompt("err_already_yours")
        return "xfer_village"
    return "ben_card"


def _ben(ctx: Ctx) -> Beneficiary:
    ben = ctx.db.get(Beneficiary, ctx.data.get("ben_id"))
    if ben is None:
        raise Reprompt("err_not_found")
    return ben


def card_prompt(ctx: Ctx) -> str:
    ben = _ben(ctx)
    actions = ["card_actions"]
    if ben.status == BeneficiaryStatus.PENDING:
        actions.append("card_action_confirm")
    return "\n".join([beneficiary_card(ctx, ben), *(ctx.text(a) for a in actions)])


def on_card(ctx: Ctx, answer: str) -> str:
    ben = _ben(ctx)
    count = 5 if ben.status == BeneficiaryStatus.PENDING else 4
    index = choice(answer, count)
    ctx.data["purpose"] = ("birth", "loss", "add_infant", "transfer", "confirm")[index]
    if index == 4:
        return "pend_confirm"
    return _after_found(ctx)


def on_pending_confirm(ctx: Ctx, answer: str) -> End:
    if choice(answer, 2) == 1:
        return End("cancelled")
    ben = _ben(ctx)
    assert ben.id is not None
    registry_service.confirm_pending(
        ctx.db,
        beneficiary_id=ben.id,
        chw_id=ctx.data["chw_id"],
        consent=registry_service.ConsentInfo(
            text_key=CONSENT_KEY,
            text_version=CONSENT_VERSION,
            language=ctx.state.language,
            chw_id=ctx.data["chw_id"],
        ),
    )
    return End("pending_confirmed", {"code": ben.code})


def _named(key: str) -> Any:
    return lambda ctx: ctx.text(key, name=_ben(ctx).name)


# --- birth, loss, adding an infant ---------------------------------------------------


def on_birth_date(ctx: Ctx, answer: str) -> str:
    ctx.data["birth"] = {"date": parse.birth_day(ctx, answer)}
    return "birth_sex"


def on_birth_sex(ctx: Ctx, answer: str) -> str:
    ctx.data["birth"]["sex"] = ("F", "M")[choice(answer, 2)]
    return "birth_confirm"


def birth_confirm_prompt(ctx: Ctx) -> str:
    birth = ctx.data["birth"]
    return ctx.text(
        "birth_confirm",
        name=_ben(ctx).name,
        date=date.fromisoformat(birth["date"]).strftime("%d/%m/%Y"),
        sex=ctx.text("sex_girl" if birth["sex"] == "F" else "sex_boy"),
    )


def on_birth_confirm(ctx: Ctx, answer: str) -> End:
    if choice(answer, 2) == 1:
        return End("cancelled")
    from outreach.programmes import service as programmes_service

    ben = _ben(ctx)
    assert ben.id is not None
    birth = ctx.data["birth"]
    programmes_service.record_birth(
        ctx.db,
        beneficiary_id=ben.id,
        birth_date=date.fromisoformat(birth["date"]),
        sex=birth["sex"],
    )
    from outreach.appointments import service as appointments_service

    appointments_service.cancel_open(ctx.db, beneficiary_id=ben.id, kinds=("anc",))
    _propose(ctx, ben.id)
    return End("birth_done", {"name": ben.name})


def on_loss_confirm(ctx: Ctx, answer: str) -> End:
    if choice(answer, 2) == 1:
        return End("cancelled")
    from outreach.programmes import service as programmes_service

    ben = _ben(ctx)
    assert ben.id is not None
    programmes_service.record_loss(ctx.db, beneficiary_id=ben.id)
    from outreach.appointments import service as appointments_service

    appointments_service.cancel_open(ctx.db, beneficiary_id=ben.id, kinds=("anc",))
    return End("loss_done")


def add_infant_prompt(ctx: Ctx) -> str:
    reg = _reg(ctx)
    return ctx.text(
        "add_inf_confirm",
        name=_ben(ctx).name,
        date=date.fromisoformat(reg["birth_date"]).strftime("%d/%m/%Y"),
        sex=ctx.text("sex_girl" if reg.get("sex") == "F" else "sex_boy"),
    )


def on_add_infant(ctx: Ctx, answer: str) -> End:
    if choice(answer, 2) == 1:
        return End("cancelled")
    ben = _ben(ctx)
    assert ben.id is not None
    reg = _reg(ctx)
    registry_service.add_child(
        ctx.db,
        beneficiary_id=ben.id,
        birth_date=date.fromisoformat(reg["birth_date"]),
        sex=reg.get("sex"),
    )
    _propose(ctx, ben.id)
    return End("add_inf_done", {"name": ben.name})


# --- my registrations, transfer, language --------------------------------------------


def mine_items(ctx: Ctx) -> list[tuple[Any, str]]:
    women = registry_service.recent_for_chw(ctx.db, chw_id=ctx.data["chw_id"], limit=RECENT_LIMIT)
    return [(w.id, f"{w.name} {w.code}") for w in women]


def _view_card(ctx: Ctx) -> str:
    ctx.data["purpose"] = "view"
    return "ben_card"


def on_xfer_village(ctx: Ctx, answer: str) -> str:
    ctx.data["xfer_village_id"], _name = _picked_village(ctx, answer)
    return "xfer_confirm"


def xfer_confirm_prompt(ctx: Ctx) -> str:
    ben = _ben(ctx)
    return ctx.text(
        "xfer_confirm",
        name=ben.name,
        village=_village_name(ctx, ctx.data.get("xfer_village_id")),
        stage=stage_line(ctx, ben),
    )


def on_xfer_confirm(ctx: Ctx, answer: str) -> End:
    if choice(answer, 2) == 1:
        return End("cancelled")
    ben = _ben(ctx)
    assert ben.id is not None
    registry_service.transfer(
        ctx.db,
        beneficiary_id=ben.id,
        to_chw_id=ctx.data["chw_id"],
        to_village_id=ctx.data.get("xfer_village_id"),
    )
    return End("xfer_done", {"name": ben.name})


def on_chw_language(ctx: Ctx, answer: str) -> str:
    language = LANGUAGE_OPTIONS[choice(answer, len(LANGUAGE_OPTIONS))]
    chw_service.set_language(ctx.db, chw=_chw(ctx), language=language)
    ctx.state.language = language
    return HOME


STEPS: dict[str, Step] = {
    "pin": Step(prompt=_welcome, on_answer=on_pin, root=True, resumable=False),
    HOME: menu(
        "menu",
        [
            ("menu_register", _begin("pregnancy")),
            ("menu_infant", "inf_menu"),
            ("menu_birth", _find("birth")),
            ("menu_loss", _find("loss")),
            ("menu_find", _find("view")),
            ("menu_mine", "mine"),
            ("menu_transfer", _find("transfer")),
            ("menu_language", "chw_lang"),
            ("menu_appointments", "appt_menu"),
            ("menu_quit", End("bye")),
        ],
        root=True,
    ),
    "inf_menu": menu(
        "inf_menu", [("inf_menu_new", _begin("infant")), ("inf_menu_add", _find("add_infant"))]
    ),
    "reg_name": _save_reg("reg_name", parse.name, "reg_phone_kind"),
    "reg_phone_kind": Step(prompt=ask("reg_phone_kind"), on_answer=on_phone_kind),
    "reg_phone": _save_reg("reg_phone", parse.phone, _after_phone),
    "reg_preg_mode": menu(
        "reg_preg_mode",
        [("mode_months", "reg_months"), ("mode_weeks", "reg_weeks"), ("mode_edd", "reg_edd")],
    ),
    "reg_months": Step(prompt=ask("reg_months"), on_answer=on_months),
    "reg_weeks": Step(prompt=ask("reg_weeks"), on_answer=on_weeks),
    "reg_edd": Step(prompt=ask("reg_edd"), on_answer=on_edd),
    "inf_age_mode": menu(
        "inf_age_mode",
        [
            ("mode_birth_date", "inf_dob"),
            ("mode_age_weeks", "inf_age_weeks"),
            ("mode_age_months", "inf_age_months"),
        ],
    ),
    "inf_dob": Step(prompt=ask("inf_dob"), on_answer=on_child_dob),
    "inf_age_weeks": Step(prompt=ask("inf_age_weeks"), on_answer=on_child_weeks),
    "inf_age_months": Step(prompt=ask("inf_age_months"), on_answer=on_child_months),
    "inf_sex": Step(prompt=ask("inf_sex"), on_answer=on_sex),
    "reg_village": Step(prompt=_village_prompt, on_answer=on_village),
    "reg_lang": Step(prompt=ask("reg_lang"), on_answer=on_reg_lang),
    "reg_idp": Step(prompt=ask("reg_idp"), on_answer=on_idp),
    "reg_consent": Step(prompt=ask(CONSENT_KEY), on_answer=on_consent),
    "reg_summary": Step(prompt=summary_prompt, on_answer=on_summary),
    "reg_duplicate": Step(prompt=duplicate_prompt, on_answer=on_duplicate),
    "find_mode": menu(
        "find_mode", [("find_by_phone", "find_phone"), ("find_by_code", "find_code")]
    ),
    "find_phone": Step(prompt=ask("find_phone"), on_answer=on_find_phone),
    "find_code": Step(prompt=ask("find_code"), on_answer=on_find_code),
    "find_pick": pick("find_pick", found_items, save="ben_id", then=_after_found),
    "ben_card": Step(prompt=card_prompt, on_answer=on_card),
    "pend_confirm": Step(prompt=_named("pend_confirm"), on_answer=on_pending_confirm),
    "birth_date": Step(prompt=_named("birth_date"), on_answer=on_birth_date),
    "birth_sex": Step(prompt=ask("inf_sex"), on_answer=on_birth_sex),
    "birth_confirm": Step(prompt=birth_confirm_prompt, on_answer=on_birth_confirm),
    "loss_confirm": Step(prompt=_named("loss_confirm"), on_answer=on_loss_confirm),
    "add_inf_confirm": Step(prompt=add_infant_prompt, on_answer=on_add_infant),
    "mine": pick("mine", mine_items, save="ben_id", then=_view_card, empty="mine_empty"),
    "xfer_village": Step(prompt=_village_prompt, on_answer=on_xfer_village),
    "xfer_confirm": Step(prompt=xfer_confirm_prompt, on_answer=on_xfer_confirm),
    "chw_lang": Step(prompt=ask("language_menu"), on_answer=on_chw_language),
    "appt_menu": menu(
        "appt_menu",
        [
            ("appt_menu_due", "appt_due"),
            ("appt_menu_follow", "appt_follow"),
            ("appt_menu_set", _find("appt")),
        ],
    ),
    **appointment_screens.STEPS,
}

"""The CHW's appointment screens: outcomes to record, "a suivre", setting and moving.

Reached from the CHW menu ("Rendez-vous") and from a woman's card; the steps are data
like every other menu and share the CHW flow's namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from outreach.appointments import service as appointments_service
from outreach.appointments.models import Appointment, AppointmentKind, AppointmentSource
from outreach.registry.models import Beneficiary
from outreach.ussd.engine import Ctx, End, Reprompt, Step, ask, choice, pick
from outreach.ussd.flows import parse

# The kinds a CHW may set by hand, in the order of the `appt_kind` menu.
SET_KINDS = (
    AppointmentKind.ANC,
    AppointmentKind.POSTNATAL,
    AppointmentKind.VACCINATION,
    AppointmentKind.GROWTH,
    AppointmentKind.VITAMIN_A,
)
LIST_LIMIT = 30


def _day(value: date) -> str:
    return value.strftime("%d/%m")


def _line(appointment: Appointment, name: str | None = None) -> str:
    parts = [_day(appointment.due_on), name, appointments_service.label(appointment)]
    return " ".join(p for p in parts if p)


def _appointment(ctx: Ctx) -> Appointment:
    found = ctx.db.get(Appointment, ctx.data.get("appt_id"))
    if found is None:
        raise Reprompt("err_not_found")
    return found


def _owner(ctx: Ctx, appointment: Appointment) -> str:
    ben = ctx.db.get(Beneficiary, appointment.beneficiary_id)
    return ben.name if ben else "-"


# --- outcomes: attended or missed ------------------------------------------------------


def due_items(ctx: Ctx) -> list[tuple[Any, str]]:
    rows = appointments_service.due_for_chw(ctx.db, chw_id=ctx.data["chw_id"])[:LIST_LIMIT]
    return [(a.id, _line(a, b.name)) for a, b in rows]


def _about_chosen(key: str, *, gone: str) -> Callable[[Ctx], str]:
    """A screen about the appointment just picked: her name, what, when (`gone` if it is not)."""

    def prompt(ctx: Ctx) -> str:
        appointment = ctx.db.get(Appointment, ctx.data.get("appt_id"))
        if appointment is None:
            return ctx.text(gone)
        return ctx.text(
            key,
            name=_owner(ctx, appointment),
            label=appointments_service.label(appointment),
            date=_day(appointment.due_on),
        )

    return prompt


def on_outcome(ctx: Ctx, answer: str) -> End:
    attended = choice(answer, 2) == 0
    appointment = _appointment(ctx)
    assert appointment.id is not None
    try:
        outcome = appointments_service.record_outcome(
            ctx.db, appointment_id=appointment.id, attended=attended, chw_id=ctx.data["chw_id"]
        )
    except appointments_service.AppointmentError:
        return End("appt_already")
    if not attended:
        return End("appt_missed_done")
    if outcome.next_dose is not None:
        return End(
            "appt_attended_next",
            {
                "label": appointments_service.label(outcome.next_dose),
                "date": _day(outcome.next_dose.due_on),
            },
        )
    return End("appt_attended")


# --- a suivre: missed visits to follow up ------------------------------------------------


def follow_items(ctx: Ctx) -> list[tuple[Any, str]]:
    rows = appointments_service.followups(ctx.db, chw_id=ctx.data["chw_id"])[:LIST_LIMIT]
    return [(a.id, _line(a, b.name)) for a, b in rows]


def on_follow_done(ctx: Ctx, answer: str) -> str | End:
    if choice(answer, 2) == 1:
        return "appt_follow"
    appointment = _appointment(ctx)
    assert appointment.id is not None
    appointments_service.mark_followed_up(ctx.db, appointment_id=appointment.id)
    return End("appt_followed")


# --- one woman's appointments: set, move, cancel ---------------------------------------------


def _ben_id(ctx: Ctx) -> int:
    ben_id = ctx.data.get("ben_id")
    if not isinstance(ben_id, int):
        raise Reprompt("err_not_found")
    return ben_id


def ben_items(ctx: Ctx) -> list[tuple[Any, str]]:
    ben_id = ctx.data.get("ben_id")
    if not isinstance(ben_id, int):
        return []
    found = appointments_service.upcoming(ctx.db, beneficiary_id=ben_id, limit=LIST_LIMIT)
    return [(a.id, _line(a)) for a in found]


def ben_prompt(ctx: Ctx) -> str:
    listed = ben_items(ctx)
    ctx.data["_appt_id_ids"] = [v for v, _ in listed]
    ben = ctx.db.get(Beneficiary, ctx.data.get("ben_id"))
    lines = [f"{i} {label}" for i, (_, label) in enumerate(listed, 1)]
    lines.append(f"{len(listed) + 1} {ctx.text('appt_ben_new')}")
    return "\n".join([ctx.text("appt_ben", name=ben.name if ben else "-"), *lines])


def on_ben(ctx: Ctx, answer: str) -> str:
    ids = ctx.data.get("_appt_id_ids")
    if ids is None:
        ids = [v for v, _ in ben_items(ctx)]
    index = choice(answer, len(ids) + 1)
    if index == len(ids):
        ctx.data.pop("appt_id", None)
        return "appt_kind"
    ctx.data["appt_id"] = ids[index]
    return "appt_change"


def change_prompt(ctx: Ctx) -> str:
    appointment = ctx.db.get(Appointment, ctx.data.get("appt_id"))
    if appointment is None:
        return ctx.text("appt_due_empty")
    return ctx.text(
        "appt_change",
        label=appointments_service.label(appointment),
        date=_day(appointment.due_on),
        place=appointment.place,
    )


def on_change(ctx: Ctx, answer: str) -> str | End:
    if choice(answer, 2) == 0:
        return "appt_date"
    appointment = _appointment(ctx)
    assert appointment.id is not None
    try:
        appointments_service.cancel(ctx.db, appointment_id=appointment.id)
    except appointments_service.AppointmentError:
        return End("appt_already")
    return End("appt_cancel_done")


def on_kind(ctx: Ctx, answer: str) -> str:
    ctx.data["appt_kind"] = SET_KINDS[choice(answer, len(SET_KINDS))].value
    return "appt_date"


def on_date(ctx: Ctx, answer: str) -> End:
    day = parse.a_date(answer)
    source = AppointmentSource.CHW
    try:
        if ctx.data.get("appt_id"):
            moved = appointments_service.move(
                ctx.db, appointment_id=ctx.data["appt_id"], due_on=day, source=source
            )
            return End("appt_moved", {"date": day.strftime("%d/%m/%Y"), "place": moved.place})
        appointments_service.create(
            ctx.db,
            beneficiary_id=_ben_id(ctx),
            kind=ctx.data.get("appt_kind", AppointmentKind.ANC),
            due_on=day,
            source=source,
        )
    except appointments_service.AppointmentError:
        raise Reprompt("err_appt_date") from None
    return End("appt_set", {"date": day.strftime("%d/%m/%Y")})


STEPS: dict[str, Step] = {
    "appt_due": pick(
        "appt_due", due_items, save="appt_id", then="appt_outcome", empty="appt_due_empty"
    ),
    "appt_outcome": Step(
        prompt=_about_chosen("appt_outcome", gone="appt_due_empty"), on_answer=on_outcome
    ),
    "appt_follow": pick(
        "appt_follow",
        follow_items,
        save="appt_id",
        then="appt_follow_done",
        empty="appt_follow_empty",
    ),
    "appt_follow_done": Step(
        prompt=_about_chosen("appt_follow_done", gone="appt_follow_empty"), on_answer=on_follow_done
    ),
    "appt_ben": Step(prompt=ben_prompt, on_answer=on_ben),
    "appt_change": Step(prompt=change_prompt, on_answer=on_change),
    "appt_kind": Step(prompt=ask("appt_kind"), on_answer=on_kind),
    "appt_date": Step(prompt=ask("appt_date"), on_answer=on_date),
}

"""Screen pieces shared by the CHW and beneficiary menus."""

from __future__ import annotations

from outreach.chws.models import Chw
from outreach.programmes.models import Programme
from outreach.registry import phones
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary, BeneficiaryStatus, Phone
from outreach.sites.models import Site
from outreach.timeutil import local_today
from outreach.ussd.engine import Ctx

# In the order of the language menus: 1 French, 2 Bambara, 3 English (developers).
LANGUAGE_OPTIONS = ("fr", "bm", "en")


def language_name(ctx: Ctx, code: str) -> str:
    return ctx.text(f"lang_{code}" if code in LANGUAGE_OPTIONS else "lang_fr")


def stage_line(ctx: Ctx, ben: Beneficiary) -> str:
    """Where she is: pregnant (weeks, EDD), mother of an infant, pending or stopped."""
    if ben.status == BeneficiaryStatus.PENDING:
        return ctx.text("stage_pending")
    if ben.status == BeneficiaryStatus.OPTED_OUT:
        return ctx.text("stage_stopped")
    assert ben.id is not None
    enrollment = registry_service.current_enrollment(ctx.db, beneficiary_id=ben.id)
    if enrollment is None:
        return ctx.text("stage_none")
    if enrollment.programme == Programme.INFANT:
        return ctx.text("stage_infant", date=enrollment.anchor_date.strftime("%d/%m/%Y"))
    weeks = registry_service.weeks_from_edd(edd=enrollment.anchor_date, today=local_today())
    return ctx.text("stage_pregnant", weeks=weeks, edd=enrollment.anchor_date.strftime("%d/%m/%Y"))


def chw_contact(ctx: Ctx, ben: Beneficiary) -> tuple[str, str] | None:
    """Her CHW's name and number, if she has one."""
    chw = ctx.db.get(Chw, ben.chw_id) if ben.chw_id is not None else None
    if chw is None:
        return None
    phone = ctx.db.get(Phone, chw.phone_id)
    return chw.name, phones.national(phone.e164) if phone else "-"


def beneficiary_card(ctx: Ctx, ben: Beneficiary) -> str:
    """A few lines about her for the CHW: name, code, stage, village, CHW, phone."""
    village = ctx.db.get(Site, ben.village_id) if ben.village_id is not None else None
    phone = ctx.db.get(Phone, ben.phone_id) if ben.phone_id is not None else None
    contact = chw_contact(ctx, ben)
    return ctx.text(
        "card",
        name=ben.name,
        code=ben.code,
        stage=stage_line(ctx, ben),
        village=village.name if village else "-",
        chw=contact[0] if contact else "-",
        phone=phones.national(phone.e164) if phone else ctx.text("phone_none_short"),
    )

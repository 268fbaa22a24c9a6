"""The USSD menus, declared as steps: CHWs on their phones, everyone else on theirs."""

from __future__ import annotations

from outreach.chws import service as chw_service
from outreach.registry import service as registry_service
from outreach.ussd.engine import Ctx, End, Flow
from outreach.ussd.flows import beneficiary, chw


def start(ctx: Ctx) -> str | End:
    """A CHW's phone starts at the PIN; any other at her menu, or how to join."""
    found = chw_service.get_by_phone(ctx.db, e164=ctx.state.phone)
    if found is not None:
        return chw.start(ctx, found)
    women = registry_service.find_by_phone(ctx.db, e164=ctx.state.phone)
    return beneficiary.start(ctx, women)


# Both menus share one namespace of screens: a name used twice would silently shadow one.
assert not set(chw.STEPS) & set(beneficiary.STEPS), set(chw.STEPS) & set(beneficiary.STEPS)

MAIN_FLOW = Flow(start=start, steps={**chw.STEPS, **beneficiary.STEPS})

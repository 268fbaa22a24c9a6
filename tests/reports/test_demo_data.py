"""The console's demonstration data: added once, and enough for every dashboard panel."""

from __future__ import annotations

from sqlmodel import select

from outreach.outbox.models import OutboundMessage
from outreach.reports import demo
from outreach.reports import service as reports


def test_demo_data_fills_the_dashboard_once(db, chw) -> None:
    # Given the demo sites and CHW
    # When the console demo is seeded twice
    first = demo.seed(db, women=30)
    db.commit()
    again = demo.seed(db, women=30)
    db.commit()
    # Then only the first run added anything
    assert first is True and again is False
    # And every panel of the dashboard has figures
    data = reports.dashboard(db)
    assert data.enrollments.total == 30
    assert data.messages.total > 30 * 20
    assert {n.network for n in data.networks} == {"61001", "61002", "61003"}
    assert data.cost.cost > 0
    assert data.drop_off
    # And none of the demo women's messages will be sent
    sendable = db.exec(
        select(OutboundMessage).where(OutboundMessage.status.in_(["queued", "deferred"]))
    ).all()
    assert sendable == []

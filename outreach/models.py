"""Import every table so SQLModel.metadata is complete (Alembic and tests use it)."""

from outreach.accounts.models import ApiToken, StaffUser, StaffUserSite
from outreach.appointments.models import Appointment, ClinicRound
from outreach.audit.models import AuditEntry
from outreach.campaigns.models import Campaign, CampaignRun
from outreach.chws.models import Chw, ChwSite
from outreach.content.models import ContentApproval
from outreach.imports.models import BeneficiaryImport
from outreach.inbound.models import InboundMessage, OptOutNotice
from outreach.outbox.models import DeliveryReport, MessageAttempt, OutboundMessage
from outreach.programmes.models import Enrollment
from outreach.registry import names as _names  # noqa: F401  (name tokens follow every write)
from outreach.registry.models import (
    Beneficiary,
    Child,
    Consent,
    NameToken,
    Phone,
    SelfRegistration,
    Transfer,
)
from outreach.reports import indexes as _report_indexes  # noqa: F401  (dashboard indexes)
from outreach.sites.models import Facility, Site
from outreach.ussd.models import UssdSessionEvent

__all__ = [
    "ApiToken",
    "Appointment",
    "AuditEntry",
    "Beneficiary",
    "BeneficiaryImport",
    "Campaign",
    "CampaignRun",
    "Child",
    "Chw",
    "ChwSite",
    "ClinicRound",
    "Consent",
    "ContentApproval",
    "DeliveryReport",
    "Enrollment",
    "Facility",
    "InboundMessage",
    "MessageAttempt",
    "NameToken",
    "OptOutNotice",
    "OutboundMessage",
    "Phone",
    "SelfRegistration",
    "Site",
    "StaffUser",
    "StaffUserSite",
    "Transfer",
    "UssdSessionEvent",
]

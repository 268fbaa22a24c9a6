"""Rendering: the Jinja2 environment and what every console page receives."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from outreach.accounts.sessions import csrf_token
from outreach.config import get_settings
from outreach.console.i18n import Translator

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _number(value: object) -> str:
    """French grouping with a thin space: 12 345."""
    number = value if isinstance(value, Decimal | float) else int(str(value))
    text = f"{number:,.0f}"
    return text.replace(",", "\u202f")


def _percent(value: float) -> str:
    return f"{100 * value:.0f}\u202f%"


TEMPLATES.env.filters["number"] = _number
TEMPLATES.env.filters["percent"] = _percent


def _local(value: datetime) -> str:
    """A UTC time as staff read it: Bamako time, day first."""
    return value.astimezone(ZoneInfo(get_settings().timezone)).strftime("%d/%m/%Y %H:%M")


def _local_input(value: datetime | date | None) -> str:
    """A stored time as a `datetime-local` (or `date`) field shows it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m-%dT%H:%M")
    return value.isoformat()


TEMPLATES.env.filters["local"] = _local
TEMPLATES.env.filters["local_input"] = _local_input
TEMPLATES.env.globals["simulator_link"] = lambda: (
    get_settings().gateway == "emulator"
    and get_settings().simulator_enabled
    and get_settings().env != "production"
)


# Scripts only from our own files (HTMX and console.js), or inline ones allowed by hash:
# text a beneficiary or a CHW typed can never run in a staff member's browser.
# Inline styles stay allowed (HTMX adds its indicator style; charts use style attributes).
def security_headers(*, script_hashes: tuple[str, ...] = ()) -> dict[str, str]:
    """The headers of a staff page; `script_hashes` allow exactly those inline scripts."""
    policy = "; ".join(
        (
            "default-src 'self'",
            " ".join(("script-src 'self'", *script_hashes)),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


SECURITY_HEADERS = security_headers()
CONTENT_SECURITY_POLICY = SECURITY_HEADERS["Content-Security-Policy"]


def language_of(request: Request, user: Any = None) -> str:
    """The console language: the signed-in user's choice, else the browser's cookie."""
    if user is not None and getattr(user, "language", None):
        return str(user.language)
    return request.cookies.get("console_lang", "fr")


def render(
    request: Request,
    template: str,
    *,
    user: Any = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page (or an HTMX fragment) in the user's language."""
    t = Translator(language_of(request, user))
    csrf = context.pop("csrf", None) or (csrf_token(request) if user is not None else "")
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"t": t, "lang": t.language, "user": user, "csrf": csrf, **context},
        status_code=status_code,
        headers=SECURITY_HEADERS,
    )

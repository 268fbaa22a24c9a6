"""Logging shared by every process: API, worker, beat and CLI.

Production writes one JSON object per line; development, readable lines. Either way a
redaction layer runs on every record before any handler sees it: full phone numbers
become `+223******56` (`registry.phones.mask`) and the callback key `***`. It is a
safety net: the log calls themselves name rows by id and numbers masked, never a name
or a message body.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from outreach.config import get_settings
from outreach.registry.phones import mask

# --- redaction -----------------------------------------------------------------------

_KEY_IN_URL = re.compile(r"([?&]key=)[^&\s\"']*")
_ENCODED_PLUS = re.compile(r"%2B(?=\d)", re.IGNORECASE)

# A Malian number in the forms people and systems write it: +223 / 00223 / 223 then
# eight digits, or the eight digits alone (first digit 2-9), each optionally in pairs
# separated by the same space, dot or dash. Digits glued to letters, other digits, a dot or a
# dash (ids, UUIDs, decimals, dates) are left alone.
_EIGHT = r"[2-9]\d(?P<sep>[ .\-]?)\d\d(?P=sep)\d\d(?P=sep)\d\d"
_PHONE = re.compile(
    r"(?<![\w.\-+])"
    r"(?:(?P<cc>(?:\+|00)?223)[ .\-]?)?"
    rf"(?P<national>{_EIGHT})"
    r"(?![\w]|[.\-]\w)"
)
# Any other number in international form (a beneficiary abroad, a foreign CHW phone).
_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d(?:[ .\-]?\d){7,14}(?!\w|[.\-]\d)")


def _mask_match(match: re.Match[str]) -> str:
    national = re.sub(r"\D", "", match.group("national"))
    return mask("+223" + national)


def redact(text: str) -> str:
    """The text with full phone numbers masked and the callback key blanked."""
    if not text:
        return text
    text = _KEY_IN_URL.sub(r"\1***", text)
    # A number in a URL's query string arrives as %2B223…
    text = _ENCODED_PLUS.sub("+", text)
    text = _PHONE.sub(_mask_match, text)
    return _INTERNATIONAL.sub(lambda m: mask("+" + re.sub(r"\D", "", m.group(0))), text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    # An object formatted with %s or %r (an exception, a row, a dict): what it shows
    # is checked, and replaced by its redacted text only when it held a number.
    shown = str(value)
    cleaned = redact(shown)
    return value if cleaned == shown else cleaned


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record in place: its message, arguments, exception and stack text."""
    if getattr(record, "_outreach_redacted", False):
        return record
    record.msg = _redact_value(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_redact_value(a) for a in record.args)
    elif isinstance(record.args, Mapping):
        record.args = {k: _redact_value(v) for k, v in record.args.items()}
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._outreach_redacted = True
    return record


class Redact(logging.Filter):
    """The redaction layer, as a filter for handlers set up outside `configure_logging`."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


class RedactCallbackKey(Redact):
    """Kept for uvicorn's access logger: the full redaction includes the key."""


_base_factory = logging.getLogRecordFactory()


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    return redact_record(_base_factory(*args, **kwargs))


def install_redaction() -> None:
    """Redact every record when it is made, whichever logger and handler it goes to."""
    global _base_factory
    current = logging.getLogRecordFactory()
    if current is not _redacting_factory:
        _base_factory = current
        logging.setLogRecordFactory(_redacting_factory)


# --- context -------------------------------------------------------------------------

_context: ContextVar[dict[str, Any] | None] = ContextVar("outreach_log_context", default=None)
_process = {"name": "outreach"}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields (ids, never names or numbers) to every line logged inside the block."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: Any) -> Token[dict[str, Any] | None]:
    """Add fields to the current context; `unbind` with the token when the work is over."""
    return _context.set({**(_context.get() or {}), **fields})


def unbind(token: Token[dict[str, Any] | None]) -> None:
    """Back to the context before `bind` (a task is over)."""
    _context.reset(token)


class RequestLogContext:
    """Every line logged while serving a request carries its id, method and route."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with log_context(
            request_id=new_request_id(), method=scope.get("method"), path=scope.get("path")
        ):
            await self.app(scope, receive, send)


# Attributes every LogRecord has: anything else came from `extra=` and is worth showing.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "_outreach_redacted",
    "color_message",
}
_CALL_DETAILS = {"args", "kwargs", "return_value", "traceback"}
_QUERY_KEPT = {"limit", "offset", "page", "status", "language", "site_id", "next"}


def _path_only(full_path: str) -> str:
    # Console searches put names and numbers in the query string: keep the path and the
    # paging/filter parameters, blank every other value.
    path, sep, query = full_path.partition("?")
    if not sep:
        return path
    pairs = [
        (k, v if k in _QUERY_KEPT else "***") for k, v in parse_qsl(query, keep_blank_values=True)
    ]
    return path + "?" + urlencode(pairs, safe="*/")


class AccessQuery(logging.Filter):
    """uvicorn's access lines keep the path, not what was searched for."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, full_path, version, status = record.args
            record.args = (client, method, _path_only(str(full_path)), version, status)
            record.http = {
                "client": str(client),
                "method": method,
                "path": str(full_path).partition("?")[0],
                "status": status,
            }
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers in production."""

    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "process": _process["name"],
            "pid": record.process,
        }
        payload.update({k: _redact_value(v) for k, v in (_context.get() or {}).items()})
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                if isinstance(value, dict):
                    # Celery hands its task lines a dict with the call's arguments and
                    # result: ids by our rules, still not worth shipping.
                    value = {k: v for k, v in value.items() if k not in _CALL_DETAILS}
                payload[key] = _redact_value(value)
        if record.exc_text:
            payload["exc"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        return json.dumps(payload, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for development, with the context fields at the end."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)
        line = super().format(record)
        context = _context.get()
        if context:
            line += " [" + " ".join(f"{k}={_redact_value(v)}" for k, v in context.items()) + "]"
        return line


def redact_access_log() -> None:
    """Install the redaction and query filters on uvicorn's access logger."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessQuery) for f in access.filters):
        access.addFilter(AccessQuery())
    if not any(isinstance(f, Redact) for f in access.filters):
        access.addFilter(Redact())


def configure_logging(process: str | None = None) -> None:
    """Plain lines in development, JSON lines in production, redacted everywhere."""
    settings = get_settings()
    install_redaction()
    if process:
        _process["name"] = process
    # uvicorn configures its own loggers before it imports the app: they write through
    # the root handler (JSON in production), not uvicorn's plain ones.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    redact_access_log()
    root = logging.getLogger()
    if getattr(root, "_outreach_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.env == "production" else TextFormatter())
    handler.addFilter(Redact())
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # One line per outgoing HTTP call, URL included: only worth it when debugging.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    root._outreach_configured = True  # type: ignore[attr-defined]


def new_request_id() -> str:
    """A short id tying a request's log lines together."""
    return uuid.uuid4().hex[:12]

"""Logging setup shared by every process."""

from __future__ import annotations

import json
import logging
import re
import sys

from outreach.config import get_settings


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers in production."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


_KEY_IN_URL = re.compile(r"([?&]key=)[^&\s]*")


class RedactCallbackKey(logging.Filter):
    """Blank out `?key=` in access-log lines: the callback secret must never reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _KEY_IN_URL.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _KEY_IN_URL.sub(r"\1***", record.msg)
        return True


def redact_access_log() -> None:
    """Install the key filter on uvicorn's access logger (after uvicorn set up logging)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactCallbackKey) for f in access.filters):
        access.addFilter(RedactCallbackKey())


def configure_logging() -> None:
    """Plain lines in development, JSON lines in production."""
    settings = get_settings()
    root = logging.getLogger()
    if getattr(root, "_outreach_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    if settings.env == "production":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    root._outreach_configured = True  # type: ignore[attr-defined]

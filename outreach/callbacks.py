"""What every Africa's Talking callback shares: the URL key check."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from outreach.config import get_settings

log = logging.getLogger(__name__)


def require_callback_key(
    request: Request, key: Annotated[str | None, Query(max_length=200)] = None
) -> None:
    """Refuse a callback whose `?key=` does not match the configured secret (403)."""
    expected = get_settings().callback_key
    if expected is None or not expected.get_secret_value():
        return
    given = (key or "").encode()
    if not hmac.compare_digest(given, expected.get_secret_value().encode()):
        # Never log the key that was tried: it may be a near miss of the real one.
        log.warning("callback refused: bad or missing key on %s", request.url.path)
        raise HTTPException(status_code=403, detail="clé de rappel invalide")


CallbackKey = Depends(require_callback_key)

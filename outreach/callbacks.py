"""What every Africa's Talking callback shares: the URL key check."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from outreach.config import get_settings

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class GatewayForm(BaseModel):
    """A form posted by the gateway. NUL characters are dropped: no handset types one,
    and PostgreSQL cannot store them in text, so keeping them would turn a stray byte
    into a 500 and a retry storm."""

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_nul(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in data.items()}
        return data


async def require_callback_key(
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


# Async on purpose: a sync dependency costs every callback a trip through the thread pool.
CallbackKey = Depends(require_callback_key)


FORM = "application/x-www-form-urlencoded"


async def read_form(request: Request, model: type[M]) -> M:
    """The gateway's form, validated as `model` (422 with the usual message when it isn't).

    Africa's Talking posts small url-encoded forms; parsing the body directly skips the
    multipart machinery that `Form()` parameters go through on the busiest route.
    """
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == FORM or not content_type:
        body = (await request.body()).decode("utf-8", errors="replace")
        fields: dict[str, str] = {}
        for name, value in parse_qsl(body, keep_blank_values=True):
            fields.setdefault(name, value)
    else:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def form_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI `requestBody` for a route that reads its form with `read_form`."""
    return {
        "requestBody": {
            "required": True,
            "content": {FORM: {"schema": model.model_json_schema(by_alias=True)}},
        }
    }

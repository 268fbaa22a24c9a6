"""What every `/api/v1` router shares: pagination, errors and the caller's address.

Routes return plain dicts (built from the response models below, which document
them in OpenAPI through `responses=`) with `response_model=None`, like every route
that uses `SessionDep` (see `outreach/db.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, HTTPException, Query, Request, status
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, select

from outreach.registry.phones import InvalidPhoneNumber

T = TypeVar("T", bound=BaseModel)

MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    """One page of a list: `items`, and `total` rows matching the filters."""

    items: list[T]
    total: int
    limit: int
    offset: int


class ErrorOut(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "authentification requise"},
    403: {"model": ErrorOut, "description": "rôle insuffisant"},
    422: {"model": ErrorOut, "description": "requête invalide"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "introuvable"}
}


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="lignes par page")] = 50,
    offset: Annotated[int, Query(ge=0, description="lignes à sauter")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


def paginate(
    session: Session, stmt: Any, page: PageParams, convert: Callable[[Any], BaseModel]
) -> dict[str, Any]:
    """Count `stmt`'s rows and return one page of them, converted, as a JSON-ready dict."""
    total = session.exec(select(func.count()).select_from(stmt.order_by(None).subquery())).one()
    rows = session.exec(stmt.limit(page.limit).offset(page.offset)).all()
    return {
        "items": [convert(row).model_dump(mode="json") for row in rows],
        "total": int(total),
        "limit": page.limit,
        "offset": page.offset,
    }


def not_found(what: str) -> HTTPException:
    """A 404 naming what was not found, in French."""
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"{what} introuvable")


def invalid(message: str) -> HTTPException:
    """A 422 with a readable French message."""
    return HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=message)


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn a service's refusal (a ValueError with a French message) into a 422."""
    try:
        yield
    except LookupError as exc:
        raise not_found(str(exc) or "objet") from exc
    except InvalidPhoneNumber as exc:
        raise invalid(f"numéro de téléphone invalide: {exc}") from exc
    except ValueError as exc:
        raise invalid(str(exc)) from exc


def client_ip(request: Request) -> str:
    """The caller's address (uvicorn applies X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else "unknown"

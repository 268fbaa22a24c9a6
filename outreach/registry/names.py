"""Name search on encrypted names: each word of a name kept as a keyed hash (NameToken).

A name is stored encrypted, so SQL cannot compare it. Its words are normalised (case
folded, accents and punctuation dropped) and hashed with the index key; a search hashes
the words typed the same way, and a woman matches when every word typed is one of hers,
in any order. Substring and fuzzy matching are given up: "Tra" no longer finds
"Traoré" (docs/architecture.md, "Names at rest").

The tokens follow every ORM write of a name (an event on the session), and
`outreach keys rotate` rewrites them with the current index key.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, event, insert, select, true
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import attributes
from sqlmodel import Session, col

from outreach.chws.models import Chw
from outreach.encryption import keys, service
from outreach.registry.models import Beneficiary, NameKind, NameToken

# Words are hashed under their own prefix so that a name's token never equals the blind
# index of a number (or of any other kind of value) made with the same key.
_DOMAIN = "name:"
# Core statements: they run inside a flush, where ORM-enabled ones would not belong.
_TABLE = NameToken.__table__  # type: ignore[attr-defined]
_OWNERS: dict[type[Any], NameKind] = {Beneficiary: NameKind.BENEFICIARY, Chw: NameKind.CHW}


def words(name: str) -> list[str]:
    """The distinct words of `name`, case-folded, without accents or punctuation."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return list(dict.fromkeys(re.findall(r"[^\W_]+", plain)))


def tokens(name: str) -> list[str]:
    """The keyed hashes of the words of `name`, under the current index key (for writes)."""
    return [keys.blind_index(_DOMAIN + word) for word in words(name)]


def index(session: Session | OrmSession, *, kind: NameKind, owner_id: int, name: str) -> None:
    """Replace the tokens of one person's name."""
    session.execute(
        delete(_TABLE).where(_TABLE.c.kind == kind.value, _TABLE.c.owner_id == owner_id)
    )
    rows = [{"kind": kind.value, "owner_id": owner_id, "token": t} for t in tokens(name)]
    if rows:
        session.execute(insert(_TABLE), rows)


def matching(kind: NameKind, query: str, owner: Any) -> ColumnElement[bool]:
    """A condition on `owner` (an id column): every word of `query` is a word of the name."""
    conditions = [
        col(owner).in_(
            select(col(NameToken.owner_id)).where(
                col(NameToken.kind) == kind.value,
                col(NameToken.token).in_(keys.blind_indexes(_DOMAIN + word)),
            )
        )
        for word in words(query)
    ]
    return and_(*conditions) if conditions else true()


@event.listens_for(OrmSession, "after_flush")
def _reindex_names(session: OrmSession, _context: Any) -> None:
    # Every ORM write of a name passes here, wherever it comes from (USSD, API, import,
    # console, CLI), so no caller can forget the tokens.
    for obj in [*session.new, *session.dirty]:
        kind = _OWNERS.get(type(obj))
        if kind is None or obj.id is None:
            continue
        history = attributes.get_history(obj, "name")
        if obj in session.new or history.has_changes():
            index(session, kind=kind, owner_id=obj.id, name=obj.name or "")
    for obj in session.deleted:
        kind = _OWNERS.get(type(obj))
        if kind is not None and obj.id is not None:
            session.execute(
                delete(_TABLE).where(_TABLE.c.kind == kind.value, _TABLE.c.owner_id == obj.id)
            )


def reindex_all(session: Session, *, batch: int = 1000) -> int:
    """Rewrite every name token with the current index key; returns the names indexed."""
    done = 0
    for model, kind in _OWNERS.items():
        last = 0
        while True:
            rows = session.execute(
                select(model.id, model.name)
                .where(col(model.id) > last)
                .order_by(col(model.id))
                .limit(batch)
            ).all()
            if not rows:
                break
            ids = [r[0] for r in rows]
            session.execute(
                delete(_TABLE).where(_TABLE.c.kind == kind.value, _TABLE.c.owner_id.in_(ids))
            )
            tokens_rows = [
                {"kind": kind.value, "owner_id": owner_id, "token": t}
                for owner_id, name in rows
                for t in tokens(name or "")
            ]
            if tokens_rows:
                session.execute(insert(_TABLE), tokens_rows)
            done += len(rows)
            last = ids[-1]
    return done


def name_tokens(session: Session) -> int:
    """Rotation hook: the name tokens, rehashed under the current index key."""
    return reindex_all(session)


service.EXTRA_REINDEXERS.append(name_tokens)

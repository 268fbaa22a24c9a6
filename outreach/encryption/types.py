"""The column type that encrypts on write and decrypts on read."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Text
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import ColumnClause
from sqlalchemy.types import TypeDecorator

from outreach.encryption.keys import decrypt, encrypt

# Emptiness and NULL are the only things SQL may test on ciphertext.
_ALLOWED = frozenset({operators.is_, operators.is_not})
_SELF = frozenset({operators.eq, operators.ne})


def _column(other: Any) -> bool:
    return isinstance(other, ColumnClause)


class EncryptedText(TypeDecorator[str]):
    """Personal text stored as ciphertext; compare on its blind index, never on the column.

    Encryption is random, so `col == value` could never match: the comparator refuses it
    (and LIKE, IN, ordering) at once instead of letting a query quietly find nobody.
    An empty string stays empty both ways, so a retention purge may blank a column with
    plain SQL.
    """

    impl = Text
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator[str]):
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            # SQLAlchemy itself tests columns for equality when it looks one up in a list
            # or a dict (an UPDATE ... RETURNING does): only values are refused.
            if op in _SELF and len(other) == 1 and _column(other[0]):
                return super().operate(op, *other, **kwargs)
            if op not in _ALLOWED:
                name = getattr(op, "__name__", op)
                raise TypeError(f"{self.expr} is encrypted: compare its blind index ({name})")
            return super().operate(op, *other, **kwargs)

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            raise TypeError(f"{self.expr} is encrypted: compare its blind index, not the column")

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None or value == "":
            return value
        return encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document stored as one ciphertext (import rows and their problems quote names).

    Nothing inside it can be queried in SQL, which is the point: a document written only
    to be read back whole by the application.
    """

    impl = Text
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator[Any]):
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            # Column against column is how SQLAlchemy's ORM looks a column up in its own
            # maps (a bulk UPDATE's SET keys); only a value compared with ciphertext is wrong.
            same_column = op in (operators.eq, operators.ne) and all(
                isinstance(o, ColumnClause) for o in other
            )
            if op not in _ALLOWED and not same_column:
                raise TypeError(f"{self.expr} is encrypted: it cannot be compared in SQL")
            return super().operate(op, *other, **kwargs)

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        if value is None:
            return None
        return json.loads(decrypt(value))

"""The placeholders a campaign text may carry, rendered in SQL (the outbox insert) and in Python.

A text such as "Bonjour {prenom}, séance jeudi à {site}" is split once into literal
parts and placeholder names. The materialisation turns it into a SQL concatenation
(the literals as bound parameters, never spliced into the statement), and the
preflight renders its samples from the same parts, so both always agree.

| placeholder | value |
|---|---|
| `{prenom}` | her first name, GSM-safe (first word of the name heading her messages) |
| `{site}` | the name of her village |

In the outbox `{prenom}` is stored as a marker and filled when the body is sent
(outreach.outbox.bodies). `{{` and `}}` write a literal brace. Anything else in braces is refused.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from messages.texts import NAME_BUDGET

# Name -> what it means, for the composer's help and the error messages.
PLACEHOLDERS: dict[str, str] = {
    "prenom": "le prénom de la bénéficiaire",
    "site": "le nom de son village",
}
# Characters a placeholder counts for in the segment and cost estimate: an upper bound
# for a first name (the addressee is cut to NAME_BUDGET), a generous one for a village.
BUDGET: dict[str, int] = {"prenom": NAME_BUDGET, "site": 30}


class PlaceholderError(ValueError):
    """A text with an unknown or malformed placeholder (message in French)."""


@dataclass(frozen=True, slots=True)
class Template:
    """A text as (literal, placeholder or None) pairs."""

    parts: tuple[tuple[str, str | None], ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for _, name in self.parts if name)

    def render(self, values: Mapping[str, str]) -> str:
        """The text with each placeholder replaced by its value ("" when missing)."""
        return "".join(
            literal + (values.get(name, "") if name else "") for literal, name in self.parts
        )

    def budgeted(self) -> str:
        """The text with each placeholder at its longest expected length (for segments)."""
        return self.render({name: "W" * BUDGET[name] for name in self.names})


def parse(text: str) -> Template:
    """Split `text` into literals and known placeholders; PlaceholderError otherwise."""
    known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise PlaceholderError(
            f"accolade mal fermée dans le texte (écrivez {{{{ ou }}}} pour une accolade seule); "
            f"variables possibles: {known}"
        ) from exc
    parts: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in pieces:
        if name is None:
            parts.append((literal, None))
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            shown = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise PlaceholderError(f"variable inconnue {shown}; variables possibles: {known}")
        parts.append((literal, name))
    return Template(tuple(parts))


def literal(text: str) -> Template:
    """A text sent as it is (a content-library message): braces are not placeholders."""
    return Template(((text, None),))


def to_sql(
    template: Template, *, prefix: str, values: Mapping[str, str]
) -> tuple[str, dict[str, Any]]:
    """SQL concatenating `template`: literals bound as `:<prefix>N`, placeholders as `values`."""
    pieces: list[str] = []
    params: dict[str, Any] = {}
    for i, (text, name) in enumerate(template.parts):
        if text:
            params[f"{prefix}{i}"] = text
            # Typed: PostgreSQL cannot resolve `||` between two untyped parameters.
            pieces.append(f"CAST(:{prefix}{i} AS TEXT)")
        if name:
            pieces.append(f"COALESCE({values[name]}, '')")
    return (" || ".join(pieces) or "''"), params

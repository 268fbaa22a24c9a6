"""Message bodies without names: a marker holds the name's place until the body is read.

A body is written in set-based SQL for 100,000 women at a time, so it cannot be
encrypted row by row, and it must not carry her name in clear either. The name's place
is kept by a marker character (the whole addressee, or its first word for a campaign's
`{prenom}`) and the row's `addressee` column holds the name, encrypted: SQL copies the
enrollment's or appointment's ciphertext there as it is. `render` puts the name back,
and every reader that shows or sends a body goes through it (the sender, the console,
the API, the simulator, the exports).

The markers are control characters no content text or gateway input contains; one
character in place of a name of NAME_BUDGET septets at most, so length checks made on
stored bodies only ever undercount, and the segment estimates keep budgeting the name.
"""

from __future__ import annotations

# Record and unit separators: never typed, never in the content library.
NAME = "\x1e"
FIRST_NAME = "\x1f"
MARKERS = (NAME, FIRST_NAME)


def first_word(name: str) -> str:
    """The first word of a name, as `{prenom}` shows it."""
    return name.split(" ")[0] if name else ""


def render(body: str, addressee: str | None) -> str:
    """The body as it is sent and shown: each marker replaced by the (decrypted) name."""
    if NAME not in body and FIRST_NAME not in body:
        return body
    name = addressee or ""
    return body.replace(NAME, name).replace(FIRST_NAME, first_word(name))

"""Load the content library from its data files and render texts.

Pure Python: nothing here touches the web, the database or the queue.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

CONTENT_DIR = Path(__file__).parent / "content"
LANGUAGES = ("fr", "bm")


class ContentError(ValueError):
    """A content file is malformed or a message is missing."""


@dataclass(frozen=True, slots=True)
class Message:
    key: str
    version: int
    texts: dict[str, str]
    review_status: str

    def text(self, language: str, *, gsm_safe: bool = True) -> str:
        """The text in `language`; Bambara in its GSM-safe spelling unless told otherwise."""
        if language == "bm" and gsm_safe and "bm_gsm" in self.texts:
            return self.texts["bm_gsm"]
        if language in self.texts:
            return self.texts[language]
        return self.texts["fr"]


def _parse(path: Path) -> dict[str, Message]:
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise ContentError(f"{path.name}: expected a top-level 'messages' list")
    out: dict[str, Message] = {}
    for item in data["messages"]:
        key = item.get("key")
        texts = item.get("texts") or {}
        if not key or "fr" not in texts:
            raise ContentError(f"{path.name}: every message needs a key and a French text")
        if key in out:
            raise ContentError(f"{path.name}: duplicate key {key}")
        fields = {
            name
            for lang_text in texts.values()
            for _, name, _, _ in string.Formatter().parse(lang_text)
            if name
        }
        if fields - {"name"}:
            raise ContentError(f"{path.name}: {key} uses unknown placeholders {fields}")
        out[key] = Message(
            key=key,
            version=int(item.get("version", 1)),
            texts={str(k): str(v) for k, v in texts.items()},
            review_status=str((item.get("review") or {}).get("status", "draft")),
        )
    return out


@lru_cache
def load() -> dict[str, Message]:
    """Every message of every content file, by key."""
    messages: dict[str, Message] = {}
    for path in sorted(CONTENT_DIR.glob("*.yaml")):
        for key, message in _parse(path).items():
            if key in messages:
                raise ContentError(f"duplicate key {key} across content files")
            messages[key] = message
    return messages


def render(key: str, language: str, **values: str) -> str:
    """The text of `key` in `language` with its placeholders filled."""
    try:
        message = load()[key]
    except KeyError as exc:
        raise ContentError(f"no message {key!r} in the content library") from exc
    return message.text(language).format(**values)

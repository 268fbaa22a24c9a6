"""Console texts as data: one YAML catalog per language, French first."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

CATALOG_DIR = Path(__file__).parent / "i18n"
LANGUAGES = ("fr", "en")
DEFAULT = "fr"


def _flatten(prefix: str, node: Any, into: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, into)
    else:
        into[prefix] = str(node)


@lru_cache
def catalog(language: str) -> dict[str, str]:
    """Every text of one language, keyed "section.name"."""
    raw = yaml.safe_load((CATALOG_DIR / f"{language}.yaml").read_text(encoding="utf-8"))
    flat: dict[str, str] = {}
    _flatten("", raw, flat)
    return flat


def language_or_default(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT


class Translator:
    """`t("nav.dashboard")` in the user's language; French when a text is missing."""

    def __init__(self, language: str | None) -> None:
        self.language = language_or_default(language)
        self._texts = catalog(self.language)
        self._fallback = catalog(DEFAULT)

    def __call__(self, key: str, **values: object) -> str:
        text = self._texts.get(key) or self._fallback.get(key) or key
        return text.format(**values) if values else text

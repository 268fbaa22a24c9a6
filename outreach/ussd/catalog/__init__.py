"""USSD screen texts, one YAML file per language (English for developers and trainers)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

CATALOG_DIR = Path(__file__).parent
LANGUAGES = ("fr", "bm", "en")
DEFAULT_LANGUAGE = "fr"


@lru_cache
def catalog(language: str) -> dict[str, str]:
    """Every screen text of one language, by key."""
    path = CATALOG_DIR / f"{language}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def text(key: str, language: str, /, **values: object) -> str:
    """A screen text in `language` (French when missing), with placeholders filled."""
    lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
    template = catalog(lang).get(key) or catalog(DEFAULT_LANGUAGE)[key]
    return template.format(**values)

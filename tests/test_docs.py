"""The docs stay in step with the code."""

from __future__ import annotations

from pathlib import Path

from outreach.config import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_setting_is_documented() -> None:
    # Given the configuration page
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    # When we look for each settings field's variable name
    missing = [name for name in Settings.model_fields if f"OUTREACH_{name.upper()}" not in page]
    # Then none is missing
    assert missing == []

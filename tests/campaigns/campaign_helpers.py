"""Bodies shared by the campaign tests."""

from __future__ import annotations

from typing import Any

from outreach.campaigns.schemas import CampaignIn


def draft(**overrides: Any) -> CampaignIn:
    """A valid campaign body: French and Bambara text, everyone, send now."""
    body: dict[str, Any] = {
        "name": "Hygiène jeudi",
        "texts": {
            "fr": "Séance de sensibilisation hygiène jeudi au CSCom.",
            "bm": "Saniya kalan bè kè CSCom la jumadon.",
        },
        "audience": {},
    }
    body.update(overrides)
    return CampaignIn.model_validate(body)

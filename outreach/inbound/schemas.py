"""Africa's Talking incoming SMS and opt-out form fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class IncomingSms(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(min_length=1, max_length=100)
    from_: str = Field(alias="from", min_length=1, max_length=40)
    to: str | None = Field(default=None, max_length=40)
    text: str = Field(default="", max_length=2000)
    date: str | None = Field(default=None, max_length=40)
    link_id: str | None = Field(default=None, alias="linkId", max_length=100)
    network_code: str | None = Field(default=None, alias="networkCode", max_length=10)
    cost: str | None = Field(default=None, max_length=30)

    @model_validator(mode="before")
    @classmethod
    def _drop_nul(cls, data: Any) -> Any:
        # PostgreSQL text cannot hold NUL; a handset or a fuzzer may still send one.
        if isinstance(data, dict):
            return {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in data.items()}
        return data


class OptOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    phone_number: str = Field(alias="phoneNumber", min_length=1, max_length=40)
    sender_id: str | None = Field(default=None, alias="senderId", max_length=40)

"""What a campaign is made of, as the API and the console send it (validated, French errors)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from messages import texts as content_texts
from outreach.campaigns.placeholders import parse
from outreach.config import get_settings

Language = Literal["fr", "bm"]
MAX_TEXT = 918  # six GSM-7 segments: beyond that a campaign SMS is a letter


class AudienceIn(BaseModel):
    """Who receives a campaign. Consent and opt-outs are always enforced on top of this."""

    model_config = ConfigDict(extra="forbid")

    # Sites at any level: a region or a district covers every village under it.
    site_ids: list[int] = Field(default_factory=list)
    programme: Literal["pregnancy", "infant"] | None = None
    # Inclusive stage range: pregnancy week, or the infant's age in weeks or months.
    stage_from: int | None = Field(default=None, ge=0, le=120)
    stage_to: int | None = Field(default=None, ge=0, le=120)
    stage_unit: Literal["weeks", "months"] = "weeks"
    languages: list[Language] = Field(default_factory=list)
    # True: displaced women only; False: the others only; None: both.
    displaced: bool | None = None

    @model_validator(mode="after")
    def _stage(self) -> AudienceIn:
        has_stage = self.stage_from is not None or self.stage_to is not None
        if has_stage and self.programme is None:
            raise ValueError("une tranche de stade demande un programme (grossesse ou nourrisson)")
        if self.stage_unit == "months" and self.programme == "pregnancy":
            raise ValueError("une grossesse se compte en semaines, pas en mois")
        if (
            self.stage_from is not None
            and self.stage_to is not None
            and self.stage_from > self.stage_to
        ):
            raise ValueError("le début de la tranche de stade dépasse sa fin")
        return self


class MessageIn(BaseModel):
    """A text per language, or a content-library key. Either may still be empty while composing."""

    model_config = ConfigDict(extra="forbid")

    # {"fr": ..., "bm": ...}: French is required, Bambara falls back to it.
    texts: dict[str, str] | None = None
    content_key: str | None = None

    @field_validator("texts")
    @classmethod
    def _texts(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        unknown = set(value) - {"fr", "bm"}
        if unknown:
            raise ValueError(f"langue inconnue {sorted(unknown)}: fr ou bm")
        cleaned = {lang: text.strip() for lang, text in value.items() if text and text.strip()}
        for lang, text in cleaned.items():
            if len(text) > MAX_TEXT:
                raise ValueError(
                    f"texte {lang} trop long: {len(text)} caractères, au plus {MAX_TEXT}"
                )
            parse(text)
        return cleaned or None

    @field_validator("content_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            message = content_texts.get(value)
        except content_texts.ContentError as exc:
            raise ValueError(f"aucun message « {value} » dans la bibliothèque de contenus") from exc
        if message.kind == content_texts.OPERATIONAL or message.placeholders:
            raise ValueError(f"le message « {value} » n'est pas un message de campagne")
        if not message.approved and not get_settings().send_drafts:
            raise ValueError(f"le message « {value} » n'est pas encore approuvé")
        return value

    @model_validator(mode="after")
    def _one_message(self) -> MessageIn:
        if self.texts and self.content_key:
            raise ValueError(
                "choisissez un texte libre ou un message de la bibliothèque, pas les deux"
            )
        if self.texts and "fr" not in self.texts:
            raise ValueError("le texte en français est obligatoire (il sert aussi de repli)")
        return self

    @property
    def has_message(self) -> bool:
        return bool(self.texts or self.content_key)


class PreflightIn(MessageIn):
    """A composer's current state, as sent for the live preflight."""

    audience: AudienceIn = Field(default_factory=AudienceIn)


def _to_utc(value: datetime) -> datetime:
    # A time without a zone is a time in Bamako: that is what staff type.
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(get_settings().timezone))
    return value.astimezone(UTC)


class CampaignIn(PreflightIn):
    """A campaign draft: name, message, audience and schedule."""

    name: str = Field(min_length=1, max_length=120)
    # None: "now" (when a manager starts it). A time without a zone is in Africa/Bamako.
    send_at: datetime | None = None
    # Weekly runs, at the same local time, until this day inclusive.
    weekly_until: date | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("le nom de la campagne est obligatoire")
        return value

    @field_validator("send_at")
    @classmethod
    def _send_at(cls, value: datetime | None) -> datetime | None:
        return _to_utc(value) if value is not None else None

    @model_validator(mode="after")
    def _schedule(self) -> CampaignIn:
        if self.weekly_until is not None and self.send_at is not None:
            first = self.send_at.astimezone(ZoneInfo(get_settings().timezone)).date()
            if self.weekly_until < first:
                raise ValueError("la fin des envois hebdomadaires précède le premier envoi")
        return self


class ScheduleIn(BaseModel):
    """A manager's schedule for an approved campaign."""

    model_config = ConfigDict(extra="forbid")

    send_at: datetime
    weekly_until: date | None = None

    @field_validator("send_at")
    @classmethod
    def _send_at(cls, value: datetime) -> datetime:
        return _to_utc(value)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)


class RewriteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_TEXT * 2)
    language: Language = "fr"

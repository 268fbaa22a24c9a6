"""One CSV import: its dry-run report, the rows to import and the progress."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from outreach.encryption.types import EncryptedJSON
from outreach.timeutil import utcnow


class ImportStatus(StrEnum):
    CHECKED = "checked"  # dry run done, nothing written
    QUEUED = "queued"  # staff confirmed; the task will start it
    RUNNING = "running"
    DONE = "done"


class BeneficiaryImport(SQLModel, table=True):
    __tablename__ = "beneficiary_import"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="staff_user.id")
    filename: str = Field(max_length=200)
    status: str = Field(default=ImportStatus.CHECKED, max_length=10)
    total_lines: int = 0
    # Valid lines, waiting in `rows`; `done` of them are processed so far.
    valid_lines: int = 0
    done: int = 0
    imported: int = 0
    skipped: int = 0
    # [{"line": 3, "problems": ["..."]}], in French, for the report.
    problems: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(EncryptedJSON, nullable=False)
    )
    # The parsed valid lines, in file order; cleared when the import is done. Both lists
    # quote names and numbers, so each is stored as one ciphertext.
    rows: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(EncryptedJSON, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.valid_lines) if self.valid_lines else 100

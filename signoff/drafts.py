"""Outgoing message drafts: how one is prepared from a brief, and what makes one sendable."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, field_validator

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class MessageDraft(BaseModel):
    """A message ready to send; validation runs on every edit before anything is sent."""

    to: list[str] = Field(min_length=1, max_length=50, description="Recipient email addresses.")
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=5000)

    @field_validator("to")
    @classmethod
    def _addresses_are_emails(cls, to: list[str]) -> list[str]:
        bad = [address for address in to if not _EMAIL.match(address)]
        if bad:
            raise ValueError(f"not email addresses: {', '.join(bad)}")
        return to

    @field_validator("subject", "body")
    @classmethod
    def _no_template_left(cls, text: str) -> str:
        if "{{" in text or "}}" in text:
            raise ValueError("contains an unfilled {{placeholder}}")
        return text


class Brief(BaseModel):
    """What the sender asked for."""

    to: list[str] = Field(min_length=1)
    topic: str = Field(min_length=1)
    details: str = ""


def prepare_draft(brief: Brief) -> MessageDraft:
    """Write a first draft from `brief` (deterministic; a model can replace this step)."""
    details = f"\n\n{brief.details.strip()}" if brief.details.strip() else ""
    body = (
        f"Hello,\n\nWe are writing about {brief.topic.strip()}.{details}\n\nBest regards,\nThe team"
    )
    return MessageDraft(to=brief.to, subject=brief.topic.strip().capitalize(), body=body)


def validate_draft(_name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Approval-protocol validator for edited drafts: returns the normalised draft."""
    return MessageDraft.model_validate(args).model_dump()

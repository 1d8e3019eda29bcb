"""The base of every params section: unknown keys are errors and sections are frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # Unknown keys are errors: a typo in params.yaml must not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)

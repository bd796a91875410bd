"""The base of every config model: unknown keys are errors, never ignored."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """A section of a config file; typos in keys must not pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

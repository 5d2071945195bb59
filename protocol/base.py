"""The base of every message on the wire: camelCase fields, unknown fields refused."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """A message crossing the process boundary.

    Fields are snake_case in Python and camelCase on the wire. Unknown fields are
    refused: a misspelt ``sessionID`` must be an error that names it, not a silently
    started new session.

    Each model is built on first use (`defer_build`): a sidecar answers `initialize`
    without building the dozens of messages it has not seen yet (~30 ms of its start).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
        defer_build=True,
    )

    def wire(self) -> dict[str, Any]:
        """The JSON object sent on the wire (absent optional fields are left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

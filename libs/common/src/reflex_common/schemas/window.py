"""The windows stream's entries: one closed count window of one series (source, type)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reflex_common.errors import InvalidMessage
from reflex_common.schemas.fields import Fields

SCHEMA_VERSION = b"1"
# The series type that counts every event of a source, whatever its type.
ALL_TYPES = "*"


class ClosedWindow(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str
    type: str
    window_start: datetime
    window_s: int = Field(gt=0)
    count: int = Field(ge=0)
    # 0 when the window first closes; n > 0 when late events changed its count after closing.
    revision: int = Field(default=0, ge=0)

    def to_fields(self, traceparent: str | None = None) -> dict[str, bytes]:
        fields = {"v": SCHEMA_VERSION, "window": self.model_dump_json().encode()}
        if traceparent:
            fields["traceparent"] = traceparent.encode()
        return fields

    @classmethod
    def from_fields(cls, fields: Fields) -> ClosedWindow:
        if fields.get("v") != SCHEMA_VERSION:
            raise InvalidMessage(f"unknown window schema version {fields.get('v')!r}")
        try:
            return cls.model_validate_json(fields.get("window", b""))
        except ValidationError as exc:
            raise InvalidMessage(f"bad window: {exc.errors()[0]['msg']}") from exc

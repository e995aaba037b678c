"""BlobRef: the claim check events carry instead of large payloads (the store is bus/blobs.py)."""

from __future__ import annotations

import hashlib
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

_URI_PREFIX = "blob:sha256:"
_CONTENT_TYPE = r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;[ -~]*)?$"


class BlobRef(BaseModel):
    """A claim check: names a payload by content hash; small enough for any event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str = Field(pattern=r"^blob:sha256:[0-9a-f]{64}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    content_type: str = Field(max_length=255, pattern=_CONTENT_TYPE)

    @model_validator(mode="after")
    def _uri_names_hash(self) -> Self:
        if self.uri != _URI_PREFIX + self.sha256:
            msg = "uri must be 'blob:sha256:' followed by the sha256"
            raise ValueError(msg)
        return self

    @classmethod
    def of(cls, data: bytes, content_type: str) -> BlobRef:
        """The ref that names `data`, wherever it is stored."""
        digest = hashlib.sha256(data).hexdigest()
        return cls(uri=_URI_PREFIX + digest, sha256=digest, size=len(data), content_type=content_type)

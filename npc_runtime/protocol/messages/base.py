"""The base of every wire message: a msgpack map with a string ``type`` and an optional ``id``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

MessageId = str | int


class Message(BaseModel):
    """Unknown fields are ignored (forward compatibility); ``id`` is echoed by replies as ``ref``."""

    model_config = ConfigDict(extra="ignore", frozen=False)

    # Every concrete message narrows this to a ``Literal`` with its wire name as the default;
    # the codec's tagged unions discriminate on it.
    type: str
    id: MessageId | None = None

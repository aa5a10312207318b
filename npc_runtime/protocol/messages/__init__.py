"""Every wire message, and the tagged unions the codec decodes through.

Each concern keeps its messages in its own module and lists them in ``CLIENT_MESSAGES`` (sent by
game clients) and ``SERVER_MESSAGES`` (sent by the runtime); this module joins them.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from . import conversation, core, memory, voice, world
from .base import Message
from .conversation import *  # noqa: F403
from .core import *  # noqa: F403

_MODULES = (core, conversation, world, memory, voice)

CLIENT_TYPES: dict[str, type[Message]] = {}
SERVER_TYPES: dict[str, type[Message]] = {}
for _mod in _MODULES:
    for _cls in _mod.CLIENT_MESSAGES:
        CLIENT_TYPES[_cls.model_fields["type"].default] = _cls
    for _cls in _mod.SERVER_MESSAGES:
        SERVER_TYPES[_cls.model_fields["type"].default] = _cls


def _union(classes: list[type[Message]]) -> TypeAdapter[Any]:
    if len(classes) == 1:
        return TypeAdapter(classes[0])
    union: Any = Annotated[Union[tuple(classes)], Field(discriminator="type")]  # noqa: UP007
    return TypeAdapter(union)


CLIENT_ADAPTER = _union(list(CLIENT_TYPES.values()))
SERVER_ADAPTER = _union(list(SERVER_TYPES.values()))

__all__ = ["CLIENT_ADAPTER", "CLIENT_TYPES", "SERVER_ADAPTER", "SERVER_TYPES", "Message"]

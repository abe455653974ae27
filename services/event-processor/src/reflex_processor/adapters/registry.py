"""Adapters by source kind; kinds without an adapter of their own use the generic one."""

from __future__ import annotations

from reflex_processor.adapters import generic
from reflex_processor.adapters.base import Adapter

ADAPTERS: dict[str, Adapter] = {}


def adapter_for(kind: str) -> Adapter:
    return ADAPTERS.get(kind, generic.normalize)

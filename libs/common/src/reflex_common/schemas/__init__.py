"""Wire contracts between the services: what a stream entry's fields mean."""

from reflex_common.schemas.domain_event import DomainEvent
from reflex_common.schemas.raw_event import RawEvent
from reflex_common.schemas.window import ClosedWindow

__all__ = ["ClosedWindow", "DomainEvent", "RawEvent"]

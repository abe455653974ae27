"""The bytes of request bodies the ingress may hold at once, shared by all in-flight requests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Hold:
    """The bytes one request has taken from the budget."""

    bytes: int = 0


class BodyBudget:
    """Bytes of request bodies held at once, across all in-flight requests."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0

    @contextmanager
    def hold(self) -> Iterator[Hold]:
        """A request's share, given back when it is answered."""
        hold = Hold()
        try:
            yield hold
        finally:
            self.used -= hold.bytes

    def grow(self, hold: Hold, to_bytes: int) -> bool:
        """Take more for `hold`, up to to_bytes in all; False (nothing taken) past the budget."""
        need = to_bytes - hold.bytes
        if need <= 0:
            return True
        if self.used + need > self.max_bytes:
            return False
        self.used += need
        hold.bytes += need
        return True

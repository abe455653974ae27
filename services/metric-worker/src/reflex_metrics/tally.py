"""A batch of events grouped by count window, ready for one set-based statement. Pure.

Each event counts in two windows: its type's and its source's as a whole (type "*"). A batch's
windows are few (a handful of sources and types, one or two windows each) and its events many, so
each event carries only an index into the batch's window pairs (its type's window, its source's):
the database joins, counts and upserts a few rows per batch, and the per-event work here is one
dict lookup and two appends."""

from __future__ import annotations

from reflex_common.schemas.window import ALL_TYPES

Window = tuple[str, str, int]  # source, type, window start in seconds since the epoch


class Tally:
    __slots__ = ("_pair_of", "_window_index", "_window_s", "event_ids", "event_pairs", "pairs", "windows")

    def __init__(self, window_s: int) -> None:
        self._window_s = window_s
        self.event_ids: list[str] = []
        # Per event, the 1-based index into `pairs` of its two windows.
        self.event_pairs: list[int] = []
        # (type window, "*" window), each a 1-based index into `windows`.
        self.pairs: list[tuple[int, int]] = []
        self.windows: list[Window] = []
        self._pair_of: dict[tuple[str, str, int], int] = {}  # by source, type and epoch second
        self._window_index: dict[Window, int] = {}

    def add(self, event_id: str, source: str, type_: str, received_s: float) -> None:
        """Count the event received at received_s (seconds since the epoch) in its two windows."""
        epoch_s = int(received_s // 1)
        key = (source, type_, epoch_s)
        pair = self._pair_of.get(key)
        if pair is None:
            start_s = epoch_s - epoch_s % self._window_s
            self.pairs.append((self._window((source, type_, start_s)), self._window((source, ALL_TYPES, start_s))))
            pair = self._pair_of[key] = len(self.pairs)
        self.event_ids.append(event_id)
        self.event_pairs.append(pair)

    def _window(self, window: Window) -> int:
        index = self._window_index.get(window)
        if index is None:
            self.windows.append(window)
            index = self._window_index[window] = len(self.windows)
        return index

    def series(self) -> list[tuple[str, str, int, int]]:
        """(source, type, first window start, last window start) of every series in the batch."""
        spans: dict[tuple[str, str], tuple[int, int]] = {}
        for source, type_, start_s in self.windows:
            first, last = spans.get((source, type_), (start_s, start_s))
            spans[(source, type_)] = (min(first, start_s), max(last, start_s))
        return [(source, type_, first, last) for (source, type_), (first, last) in spans.items()]

    def __len__(self) -> int:
        return len(self.event_ids)

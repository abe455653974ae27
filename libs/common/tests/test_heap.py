import gc

from reflex_common.heap import freeze_startup_heap


class Wiring:
    """A container the collector tracks (a dict of strings only would not be tracked at all)."""


def test_what_is_alive_at_start_up_is_frozen_out_of_every_collection() -> None:
    wiring = Wiring()
    assert any(o is wiring for o in gc.get_objects())
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 0
        # The permanent generation is outside the three the collector scans.
        assert not any(o is wiring for o in gc.get_objects())
        later = Wiring()
        assert any(o is later for o in gc.get_objects())
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual

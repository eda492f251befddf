"""freeze_loaded_objects: what is alive when the app is built leaves the collector's generations."""

from __future__ import annotations

import gc

from token_server.ops.gc_freeze import freeze_loaded_objects


class Loaded:
    pass


def test_objects_alive_at_the_call_are_no_longer_walked_by_full_collections() -> None:
    loaded = Loaded()
    try:
        freeze_loaded_objects()
        assert gc.get_freeze_count() > 0
        assert not any(obj is loaded for obj in gc.get_objects(generation=2))
        made_later = Loaded()
        gc.collect(1)  # a young collection moves the survivor on, a full one still sees it
        gc.collect(1)
        assert any(obj is made_later for gen in (0, 1, 2) for obj in gc.get_objects(generation=gen))
    finally:
        gc.unfreeze()
    assert any(obj is loaded for gen in (0, 1, 2) for obj in gc.get_objects(generation=gen))


def test_garbage_left_by_loading_is_freed_not_frozen() -> None:
    collected_before = sum(stat["collected"] for stat in gc.get_stats())
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    try:
        freeze_loaded_objects()
    finally:
        gc.unfreeze()
    assert sum(stat["collected"] for stat in gc.get_stats()) > collected_before

"""Keep the garbage collector's full passes short under load.

A worker imports the framework, the app and their libraries once: hundreds of thousands of
objects that live as long as the process. Left in the collector's oldest generation, every full
collection walks all of them, and it runs on the thread answering requests (on an event loop,
every connection waits): measured in the FastAPI host with 256 callers, 70-110 ms pauses. After
``gc.freeze()`` a full collection walks only what requests made: 10-28 ms (docs/benchmarks.md).
Nothing frozen is ever freed, so call it once, when the app is built, not per request.
"""

from __future__ import annotations

import gc


def freeze_loaded_objects() -> None:
    """Move every object alive now out of the collector's reach (see the module)."""
    gc.collect()  # what loading left as garbage is freed now rather than kept for ever
    gc.freeze()

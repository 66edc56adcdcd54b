"""Keeping Python's cycle collector off the objects every process makes at start-up.

An API or worker process holds some hundred thousand objects once it has started (the app,
its routes and models, the process descriptions, the imported libraries), and they live as
long as the process. Python's full (generation 2) collection walks all of them, and under
load it runs several times a second: objects alive across two younger collections — any
request or job in flight — are promoted, and promotions trigger full collections. Each
one stopped the API for 40-60 ms on the benchmark machine, every client at once.
`gc.freeze()` after start-up moves those objects out of the collector's sight, so a full
collection walks only what was made since, and the pauses go.
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect what start-up left behind, then freeze the rest (call once start-up is
    over: what it made lives as long as the process)."""
    gc.collect()
    gc.freeze()

"""The served process's full garbage collections wait for a quiet moment (mockserver serve)."""

from __future__ import annotations

import gc

from mockserver.collector import NEVER, QuietCollector


def test_a_full_collection_waits_for_a_quiet_moment_or_a_long_busy_spell() -> None:
    served = [0]
    collector = QuietCollector(lambda: served[0], quiet=0.5, longest=60)
    collector.collect(100.0)
    served[0] = 10
    assert not collector.due(101.0, promoted=True)  # requests came since the last look
    assert collector.due(101.5, promoted=True)  # none since: quiet
    assert not collector.due(102.0, promoted=False)  # quiet, but nothing new to collect
    for second in range(103, 160):
        served[0] += 100
        assert not collector.due(float(second), promoted=True)  # busy
    served[0] += 100
    assert collector.due(160.0, promoted=True)  # busy for a minute since the last one
    assert collector.runs == 1


def test_the_watch_puts_off_the_interpreters_own_full_collections_until_stopped() -> None:
    before = gc.get_threshold()
    collector = QuietCollector(lambda: 0)
    watcher = collector.start()
    try:
        assert gc.get_threshold() == (*before[:2], NEVER) and watcher.daemon
    finally:
        collector.stop()
        watcher.join()
    assert gc.get_threshold() == before

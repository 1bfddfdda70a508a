"""The served process's full garbage collections wait for a quiet moment (mockserver serve)."""

from __future__ import annotations

import gc
import logging

import pytest

from mockserver.collector import NEVER, QuietCollector
from mockserver.stores import StoreError


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


def test_a_store_outage_skips_the_looks_with_one_log_line_then_collecting_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The count of requests is read from the store: a StoreError ended the watching thread,
    and full collections stayed off for the life of the process."""
    served: list[int | StoreError] = [0]

    def requests() -> int:
        if isinstance(served[0], StoreError):
            raise served[0]
        return served[0]

    collector = QuietCollector(requests, quiet=0.5, longest=60)
    served[0] = StoreError("store redis at 127.0.0.1:6379: Connection refused")
    with caplog.at_level(logging.WARNING, logger="mockserver"):
        for second in range(100, 104):
            collector.look(float(second), promoted=True)
    assert [record.getMessage() for record in caplog.records] == [
        "quiet-collector: full collections wait for the store: "
        "store redis at 127.0.0.1:6379: Connection refused"
    ]
    assert not any(record.exc_info for record in caplog.records)  # one line, no traceback
    served[0] = 5  # the store is back
    collector.look(104.0, promoted=True)  # requests came meanwhile: not quiet
    collector.look(104.5, promoted=True)
    assert collector.runs == 1

"""The micro-batching queue: concurrent calls share batches; errors reach the right callers."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gridml.serving.batching import Coalescer


def test_concurrent_calls_share_batches_and_each_gets_its_own_result() -> None:
    sizes: list[int] = []
    started = threading.Event()
    gate = threading.Event()

    def run(items: list[int]) -> list[int]:
        sizes.append(len(items))
        started.set()
        gate.wait(5)  # the first batch holds until the other callers have queued
        return [i * 10 for i in items]

    batcher: Coalescer[int, int] = Coalescer("test", run, max_batch=64)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(batcher.submit, 0)]
        assert started.wait(5)
        futures += [pool.submit(batcher.submit, i) for i in range(1, 8)]
        deadline = time.monotonic() + 5
        while batcher._queue.qsize() < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        gate.set()
        assert [f.result(5) for f in futures] == [i * 10 for i in range(8)]
    # the first call ran alone at once, the 7 that queued meanwhile ran as ONE batch
    assert sizes == [1, 7]
    assert (batcher.batches, batcher.items) == (2, 8)


def test_max_batch_bounds_a_batch() -> None:
    sizes: list[int] = []
    batcher: Coalescer[int, int] = Coalescer("test", lambda xs: sizes.append(len(xs)) or xs, 3)
    futures = batcher.submit_many(list(range(7)))
    assert [f.result(5) for f in futures] == list(range(7))
    assert max(sizes) <= 3 and sum(sizes) == 7


def test_an_item_error_reaches_its_caller_only_and_a_batch_error_every_caller() -> None:
    def run(items: list[int]) -> list[int | Exception]:
        if 99 in items:
            raise RuntimeError("the whole batch failed")
        return [ValueError(f"bad {i}") if i < 0 else i for i in items]

    batcher: Coalescer[int, int] = Coalescer("test", run, max_batch=8)
    good, bad = batcher.submit_many([1, -1])
    assert good.result(5) == 1
    with pytest.raises(ValueError, match="bad -1"):
        bad.result(5)
    with pytest.raises(RuntimeError, match="whole batch"):
        batcher.submit(99)
    assert batcher.submit(2) == 2  # the queue keeps working after a failed batch


def test_a_wrong_number_of_results_is_an_error_not_a_hang() -> None:
    batcher: Coalescer[int, int] = Coalescer("test", lambda xs: [], max_batch=8)
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        batcher.submit(1)

"""Micro-batching inside a worker: concurrent calls merged into one batch.

`Coalescer.submit` hands an item to the coalescer's thread and waits for its result. The thread
takes every item queued (up to `max_batch`) and runs them as ONE batch, so the calls that arrive
while a batch runs share the next one: at low load a call runs alone at once (no waiting
window), under load the cost of a feature read and a model call is paid once per batch, not
once per call.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)


class Coalescer(Generic[T, R]):
    """`run(items)` returns one result per item, in order; a result that is an exception is
    raised to that item's caller; an exception of `run` itself is raised to every caller of
    the batch."""

    def __init__(self, name: str, run: Callable[[list[T]], list[R | Exception]], max_batch: int):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.name = name
        self._run = run
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[T, Future[R]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0  # batches run (tests and logs)
        self.items = 0  # items run

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._loop, name=f"batch-{self.name}", daemon=True)
                thread.start()
                self._thread = thread

    def submit_many(self, items: list[T]) -> list[Future[R]]:
        """Queue `items` (they may share a batch with other callers' items)."""
        self._ensure_thread()
        futures: list[Future[R]] = []
        for item in items:
            future: Future[R] = Future()
            self._queue.put((item, future))
            futures.append(future)
        return futures

    def submit(self, item: T) -> R:
        """The result of `item`, run in a batch with whatever else is queued."""
        return self.submit_many([item])[0].result()

    def _take(self) -> list[tuple[T, Future[R]]]:
        batch = [self._queue.get()]
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            items = [item for item, _ in batch]
            try:
                results = self._run(items)
                if len(results) != len(items):
                    raise RuntimeError(
                        f"{self.name}: {len(results)} results for {len(items)} items"
                    )
            except Exception as exc:  # every caller of the batch gets it
                for _, future in batch:
                    future.set_exception(exc)
                continue
            finally:
                self.batches += 1
                self.items += len(items)
            for (_, future), result in zip(batch, results, strict=True):
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

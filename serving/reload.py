"""`POST /admin/reload` for every worker: a reload generation stamp in the workspace.

BentoML runs each worker as its own process and routes a request to one of them, so the worker
that answers `/admin/reload` is the only one that hears it. After reloading, that worker
writes a new stamp (`WORKSPACE/serving/reload.json`, atomically: a new file renamed over the
old one). Every worker checks the stamp (one `stat`) before it answers a request and once a
second in the background: a worker that finds a stamp it has not seen reloads before it
answers. So once `/admin/reload` has answered, no worker answers with what was there before.

The stamp is compared by the file's identity (inode, size, modification time in ns): each
write is a new file, so two reloads never look alike, and reading it costs no file read.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gridml.io import write_json_atomic
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
FOLLOW_SECONDS = 1.0  # how often an idle worker looks at the stamp

Stamp = tuple[int, int, int] | None


def stamp_path(ws: Workspace) -> Path:
    """Where the service's reload stamp lives in a workspace."""
    return ws.root / "serving" / "reload.json"


def read_stamp(path: Path) -> Stamp:
    """The identity of the stamp file (None while there is none)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class ReloadFollower:
    """Runs `reload` in this worker whenever another worker announced one (`changed`), and
    announces this worker's reloads (`announce`)."""

    def __init__(self, path: Path, reload: Callable[[], object]) -> None:
        self.path = path
        self._reload = reload
        self._lock = threading.Lock()
        self.seen: Stamp = read_stamp(path)  # the reloads before this worker started are done
        self.followed = 0  # reloads announced elsewhere and run here (tests, logs)

    def follow(self) -> bool:
        """Reload here when the stamp moved since this worker last reloaded. True when it did.
        Concurrent callers wait for the one reload (so none answers with the old state)."""
        if read_stamp(self.path) == self.seen:
            return False
        with self._lock:
            current = read_stamp(self.path)
            if current == self.seen:  # another thread of this worker just followed
                return False
            try:
                self._reload()
                log.info("reloaded: announced by another worker (pid %d)", os.getpid())
            except Exception:  # answer with what serves; the registry poll tries again
                log.exception("reload announced by another worker failed here")
            finally:
                self.seen = current
                self.followed += 1
            return True

    def announce(self, changed: dict[str, object]) -> bool:
        """Write a new stamp after this worker reloaded; False (logged) when the workspace
        cannot be written (the other workers then follow at their next registry poll)."""
        with self._lock:
            try:
                write_json_atomic(
                    {"pid": os.getpid(), "time": time.time(), "changed": changed}, self.path
                )
            except OSError as exc:
                log.warning("reload stamp %s not written (%s): other workers poll", self.path, exc)
                return False
            self.seen = read_stamp(self.path)
            return True

    def run(self, stop: threading.Event, every: float = FOLLOW_SECONDS) -> None:
        """Follow announced reloads while no request comes (a daemon thread's loop)."""
        while not stop.wait(every):
            try:
                self.follow()
            except Exception:  # keep following: the next round may succeed
                log.exception("following a reload failed")

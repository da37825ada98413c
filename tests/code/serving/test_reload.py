"""The reload stamp: a reload announced by one worker is run once by each other worker, before
it answers; concurrent requests of a worker wait for that one reload."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gridml.serving.reload import ReloadFollower, read_stamp, stamp_path
from gridml.workspace import Workspace


def test_an_announced_reload_is_followed_once_by_every_other_worker(tmp_path: Path) -> None:
    path = stamp_path(Workspace(tmp_path))
    runs = {"a": 0, "b": 0, "c": 0}

    def reload_of(name: str):
        def reload() -> None:
            runs[name] += 1

        return reload

    a, b, c = (ReloadFollower(path, reload_of(n)) for n in runs)
    assert not any(f.follow() for f in (a, b, c))  # no stamp yet: nothing to follow
    assert a.announce({"demand": True})
    assert path.is_file() and read_stamp(path) is not None
    assert not a.follow()  # the announcer reloaded already
    assert b.follow() and not b.follow()
    assert c.follow()
    assert runs == {"a": 0, "b": 1, "c": 1}
    assert b.announce({})  # a second reload is a new stamp, even within the same instant
    assert a.follow() and c.follow() and not b.follow()
    assert runs == {"a": 1, "b": 1, "c": 2}


def test_concurrent_requests_wait_for_the_one_reload(tmp_path: Path) -> None:
    path = stamp_path(Workspace(tmp_path))
    gate = threading.Event()
    state = {"version": 1, "runs": 0}

    def reload() -> None:
        gate.wait(5)
        state["runs"] += 1
        state["version"] = 2

    follower = ReloadFollower(path, reload)
    ReloadFollower(path, lambda: None).announce({})

    def request() -> int:
        follower.follow()
        return state["version"]

    with ThreadPoolExecutor(6) as pool:
        answers = [pool.submit(request) for _ in range(6)]
        time.sleep(0.2)
        assert not any(a.done() for a in answers)  # held until the reload is done
        gate.set()
        assert [a.result(5) for a in answers] == [2] * 6
    assert state["runs"] == 1


def test_a_failed_reload_is_not_retried_by_every_request(tmp_path: Path) -> None:
    path = stamp_path(Workspace(tmp_path))
    calls = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("registry down")

    follower = ReloadFollower(path, broken)
    ReloadFollower(path, lambda: None).announce({})
    assert follower.follow()  # logged; the request is still answered
    assert not follower.follow()
    assert len(calls) == 1


def test_an_unwritable_workspace_says_the_reload_stayed_here(tmp_path: Path) -> None:
    blocker = tmp_path / "serving"
    blocker.write_text("a file where the stamp's folder should be")
    follower = ReloadFollower(stamp_path(Workspace(tmp_path)), lambda: None)
    assert follower.announce({}) is False


def test_the_background_loop_follows_without_requests(tmp_path: Path) -> None:
    path = stamp_path(Workspace(tmp_path))
    done = threading.Event()
    follower = ReloadFollower(path, done.set)
    stop = threading.Event()
    thread = threading.Thread(target=follower.run, args=(stop, 0.05), daemon=True)
    thread.start()
    try:
        ReloadFollower(path, lambda: None).announce({})
        assert done.wait(5)
    finally:
        stop.set()
        thread.join(5)
    assert follower.followed == 1

"""API keys: roles per route, keys from the environment or a hashed file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gridml.errors import UserError
from gridml.serving.auth import (
    KeyRing,
    LiveKeys,
    _key_of,
    create_key,
    digest,
    keys_file,
    read_keys_file,
    required_role,
)


def test_routes_need_their_role_and_ops_routes_stay_open() -> None:
    assert required_role("/forecast/demand") == "reader"
    assert required_role("/models/") == "reader"
    assert required_role("/readings") == "ingest"
    assert required_role("/admin/reload") == "admin"
    for open_path in ("/livez", "/readyz", "/metrics", "/docs.json", "/"):
        assert required_role(open_path) is None


def test_keys_from_the_environment() -> None:
    ring = KeyRing.from_env({"GRIDML_API_KEYS": "k1:reader,k2:ingest+reader"})
    assert ring.roles("k1")[1] == {"reader"}
    assert ring.roles("k2")[1] == {"ingest", "reader"}
    assert ring.roles("k3") is None
    assert ring.roles(None) is None


def test_unknown_role_is_refused_with_its_name() -> None:
    with pytest.raises(UserError, match="superuser"):
        KeyRing.from_env({"GRIDML_API_KEYS": "k1:superuser"})


def test_created_keys_are_stored_hashed_and_private(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    reader = create_key(path, "dispatch-app", ["reader"])
    admin = create_key(path, "ops", ["admin"])
    text = path.read_text()
    assert reader not in text and admin not in text
    assert digest(reader) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = KeyRing.from_env({"GRIDML_API_KEYS_FILE": str(path)})
    assert ring.roles(reader) == ("dispatch-app", frozenset({"reader"}))
    assert ring.roles(admin)[1] == {"admin"}


def test_a_broken_keys_file_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("keys:\n  - name: a\n    roles: [reader]\n")
    with pytest.raises(UserError, match=r"keys\[0\].*sha256"):
        read_keys_file(path)


def test_creating_a_key_under_an_existing_name_rotates_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    old = create_key(path, "demo", ["reader"])
    new = create_key(path, "demo", ["reader", "ingest"])
    ring = KeyRing.from_env({"GRIDML_API_KEYS_FILE": str(path)})
    assert ring.roles(old) is None
    assert ring.roles(new) == ("demo", frozenset({"reader", "ingest"}))


def test_the_cli_and_the_service_resolve_the_same_keys_file(tmp_path: Path) -> None:
    named = tmp_path / "elsewhere" / "keys.yaml"
    assert keys_file({"GRIDML_API_KEYS_FILE": str(named)}, tmp_path / "ws") == named
    assert keys_file({}, tmp_path / "ws") == tmp_path / "ws" / "api-keys.yaml"


def test_a_missing_keys_file_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"missing\.yaml.*not found"):
        LiveKeys.from_env({"GRIDML_API_KEYS_FILE": str(tmp_path / "missing.yaml")})


def test_live_keys_follow_the_file_and_keep_the_last_good_ring(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    old = create_key(path, "app", ["reader"])
    live = LiveKeys.from_env({"GRIDML_API_KEYS_FILE": str(path), "GRIDML_API_KEYS": "env:admin"})
    assert live.current().roles(old) is not None
    new = create_key(path, "app", ["reader"])  # rotation: a new file (inode) replaces it
    assert live.current().roles(old) is None
    assert live.current().roles(new) == ("app", frozenset({"reader"}))
    assert live.current().roles("env") is not None  # the variable's keys stay
    path.write_text("keys: [oops")  # broken mid-edit: the last good keys stay
    assert live.current().roles(new) is not None
    assert live.reload() is False


@pytest.mark.parametrize(
    "headers",
    [
        [(b"authorization", b"Bearer \xff\xfe")],
        [(b"x-api-key", b"\xc3\x28")],
        [(b"x-api-key", b"k" * 10_000)],
    ],
)
def test_undecodable_or_huge_key_headers_carry_no_key(headers) -> None:
    assert _key_of(headers) is None


def test_the_bearer_header_wins_over_x_api_key_whatever_the_order() -> None:
    headers = [(b"x-api-key", b"other"), (b"authorization", b"Bearer mine")]
    assert _key_of(headers) == "mine"
    assert _key_of(headers[:1]) == "other"

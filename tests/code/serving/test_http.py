"""The service's edge: key-like query parameters, content types, the hardened OpenAPI."""

from __future__ import annotations

import logging

import pytest

from gridml.serving.http import NoQueryInAccessLog, content_type, hardened_spec, key_in_query


@pytest.mark.parametrize(
    ("query", "refused"),
    [
        (b"", False),
        (b"page=2", False),
        (b"api_key=gml_x", True),
        (b"a=1&TOKEN=x", True),
        (b"key", True),
    ],
)
def test_key_like_query_parameters_are_found(query: bytes, refused: bool) -> None:
    assert key_in_query(query) is refused


def test_content_type_ignores_parameters_and_case() -> None:
    assert content_type([(b"content-type", b"Application/JSON; charset=utf-8")]) == (
        "application/json"
    )
    assert content_type([]) == ""


def test_hardened_spec_names_keys_and_errors_and_no_framework() -> None:
    spec = {
        "info": {"title": "x", "version": "None", "contact": {"name": "BentoML Team"}},
        "paths": {
            "/theft/score": {
                "post": {
                    "responses": {"200": {}, "500": {}},
                    "requestBody": {"content": {"application/json": {}, "multipart/form-data": {}}},
                }
            },
            "/livez": {"get": {"responses": {"200": {}}}},
        },
    }
    out = hardened_spec(spec, {"/theft/score": "reader"}, "1.2.3")
    assert (out["info"]["title"], out["info"]["version"]) == ("gridml", "1.2.3")
    assert "BentoML" not in str(out["info"])
    op = out["paths"]["/theft/score"]["post"]
    assert {"401", "403", "415", "503"} <= set(op["responses"]) and "500" not in op["responses"]
    assert op["security"] and list(op["requestBody"]["content"]) == ["application/json"]
    assert "security" not in out["paths"]["/livez"]["get"]
    assert spec["info"]["version"] == "None"  # the input is not changed


def test_uvicorn_access_lines_lose_the_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4", "POST", "/theft/score?api_key=secret", "1.1", 400),
        None,
    )
    assert NoQueryInAccessLog().filter(record)
    assert "secret" not in record.getMessage() and "/theft/score" in record.getMessage()

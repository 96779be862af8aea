"""Image URLs are built from Host and X-Forwarded-Proto (issue 9, defect 9): neither may inject a scheme or a path."""

from __future__ import annotations

import orjson
import pytest

from reliability.rawhttp import exchange

pytestmark = pytest.mark.server


IMAGE = orjson.dumps({"model": "dall-e-2", "prompt": "A red circle", "size": "256x256"})


def image_request(host: bytes, *extra: bytes) -> bytes:
    return (b"POST /v1/images/generations HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: application/json\r\n"
            + b"".join(e + b"\r\n" for e in extra) + b"Content-Length: %d\r\n\r\n" % len(IMAGE) + IMAGE)


@pytest.mark.parametrize("host", [b"javascript://evil.example/x", b"evil.example/path?", b"a b", b"evil.example:x"])
def test_an_invalid_host_is_a_400(fast_server, host):
    reply = exchange(fast_server.port, image_request(host))
    assert reply.status == 400
    assert set(orjson.loads(reply.body)["error"]) == {"message", "type", "param", "code"}


def test_a_repeated_host_is_a_400(fast_server):
    assert exchange(fast_server.port, image_request(b"a.example", b"Host: b.example")).status == 400


class _Headers(dict):
    def to_dict(self) -> dict:
        return dict(self)


class _Query:
    def multi_items(self) -> list:
        return []


class _RobynRequest:
    """What the adapter reads of a Robyn request."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.method, self.body, self.headers, self.query_params = "POST", b"{}", _Headers(headers), _Query()
        self.url = type("Url", (), {"path": "/v1/images/generations"})()


@pytest.mark.parametrize("proto", ["javascript", "https://evil.example/", "data", ""])
def test_a_forwarded_scheme_other_than_http_or_https_never_reaches_the_engine(proto):
    from sentra_openai.server.adapter import to_engine_request

    request = to_engine_request(_RobynRequest({"host": "a.example", "x-forwarded-proto": proto}))
    assert "x-forwarded-proto" not in request.headers


@pytest.mark.parametrize("proto", ["http", "https", "HTTPS"])
def test_http_and_https_are_passed_on(proto):
    from sentra_openai.server.adapter import to_engine_request

    assert to_engine_request(_RobynRequest({"x-forwarded-proto": proto})).headers["x-forwarded-proto"] == proto

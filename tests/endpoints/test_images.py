"""POST /v1/images/generations (dall-e-2, dall-e-3) through the official SDK and raw HTTP, the PNGs behind the URLs,
OpenAI's errors, cost and the images-per-minute limit. Every body is validated against the official OpenAPI schema."""

from __future__ import annotations

import base64
import statistics
import struct
import time
import zlib
from typing import Any

import httpx
import orjson
import pytest
from openapi_schemas import validate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# DALL-E 2 and 3 were retired on 2026-05-12 (SDK 3.57.0 ImageModel docstring): these tests judge shutdowns on a day
# before that, on a server of their own (the suite's shared server runs on conftest.SUITE_AS_OF).
PINNED_DAY = "2026-05-11"


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory):
    from conftest import start_server

    server = start_server(tmp_path_factory.mktemp("dalle-server"), {"metrics": {"enable": False}},
                          env={"SENTRA_MODELS_AS_OF": PINNED_DAY})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def openai_client(fast_server):
    return fast_server.client()


def post(server, body: dict[str, Any]) -> httpx.Response:
    response = httpx.post(server.base_url + "/v1/images/generations", json=body, timeout=30)
    validate("ErrorResponse" if response.status_code >= 400 else "ImagesResponse", response.json())
    return response


def assert_error(response: httpx.Response, status: int, message: str, param: str | None = None,
                 code: str | None = None, type_: str = "invalid_request_error") -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": {"message": message, "type": type_, "param": param, "code": code}}


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """A minimal PNG reader (8-bit RGB, filters None/Sub/Up): checks every chunk CRC and returns the pixel rows."""
    assert data.startswith(PNG_SIGNATURE)
    position, idat, header = 8, b"", None
    kinds = []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        kinds.append(kind)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and header is not None
    width, height, depth, colour, *_ = header
    assert (depth, colour) == (8, 2)
    raw = zlib.decompress(idat)
    stride = 1 + 3 * width
    assert len(raw) == stride * height
    rows, previous = [], bytes(3 * width)
    for y in range(height):
        kind, line = raw[y * stride], bytearray(raw[y * stride + 1:(y + 1) * stride])
        if kind == 1:
            for i in range(3, len(line)):
                line[i] = (line[i] + line[i - 3]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous))
        else:
            assert kind == 0, kind
        previous = bytes(line)
        rows.append(previous)
    return width, height, rows


def ihdr_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# ---- generation through the SDK ---------------------------------------------------------------------------------------


@pytest.mark.server
def test_dalle2_urls_serve_pngs_of_the_requested_size(fast_server, openai_client):
    raw = openai_client.images.with_raw_response.generate(prompt="A red bicycle against a blue wall", n=2,
                                                          size="256x256")
    body = orjson.loads(raw.http_response.content)
    validate("ImagesResponse", body)
    assert list(body) == ["created", "data"]  # no usage for dall-e
    assert not any(name.startswith("x-ratelimit") for name in raw.http_response.headers)
    assert raw.http_response.headers["x-sentra-cost-usd"] == "0.032"  # 2 x $0.016
    result = raw.parse()
    urls = [item.url for item in result.data]
    assert len(set(urls)) == 2
    for url in urls:
        assert url.startswith(fast_server.base_url + "/v1/images/files/img-") and url.endswith(".png")
        image = httpx.get(url)  # no API key needed, like OpenAI's signed blob URLs
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/png"
        assert ihdr_size(image.content) == (256, 256)
        width, height, rows = decode_png(image.content)
        assert (width, height, len(rows)) == (256, 256, 256)
        colours = {row[i:i + 3] for row in rows[::16] for i in range(0, len(row), 48)}
        assert len(colours) >= 3  # a picture, not a blank canvas
        assert all(item.revised_prompt is None for item in result.data)


@pytest.mark.server
def test_default_model_is_dalle2_at_1024(openai_client):
    result = openai_client.images.generate(prompt="A lighthouse", response_format="b64_json")
    assert len(result.data) == 1
    assert ihdr_size(base64.b64decode(result.data[0].b64_json)) == (1024, 1024)


@pytest.mark.server
def test_dalle3_revises_the_prompt_and_prices_hd(fast_server):
    response = post(fast_server, {"model": "dall-e-3", "prompt": "a cat on a windowsill", "size": "1024x1792",
                                  "quality": "hd", "style": "natural", "response_format": "b64_json"})
    body = response.json()
    item = body["data"][0]
    assert list(item) == ["revised_prompt", "b64_json"]
    assert item["revised_prompt"].startswith("A cat on a windowsill") and len(item["revised_prompt"]) > 40
    assert ihdr_size(base64.b64decode(item["b64_json"])) == (1024, 1792)
    assert response.headers["x-sentra-cost-usd"] == "0.12"
    wide = post(fast_server, {"model": "dall-e-3", "prompt": "a cat", "size": "1792x1024"})
    assert httpx.get(wide.json()["data"][0]["url"]).status_code == 200
    assert wide.headers["x-sentra-cost-usd"] == "0.08"


@pytest.mark.server
def test_same_request_same_picture_in_either_format(fast_server):
    request = {"model": "dall-e-2", "prompt": "Three green squares", "size": "512x512"}
    by_url = post(fast_server, request).json()["data"][0]["url"]
    again = post(fast_server, request).json()["data"][0]["url"]
    as_b64 = post(fast_server, {**request, "response_format": "b64_json"}).json()["data"][0]["b64_json"]
    other = post(fast_server, {**request, "prompt": "Three red circles"}).json()["data"][0]["url"]
    assert by_url == again and other != by_url
    assert httpx.get(by_url).content == base64.b64decode(as_b64)


@pytest.mark.server
def test_unknown_or_tampered_image_ids_are_not_found(fast_server):
    url = post(fast_server, {"prompt": "x", "size": "256x256"}).json()["data"][0]["url"]
    image_id = url.rsplit("/", 1)[1][: -len(".png")]
    tampered = image_id[:-2] + ("AA" if not image_id.endswith("AA") else "BB")
    for path in (f"/v1/images/files/{tampered}.png", "/v1/images/files/img-nothing.png",
                 f"/v1/images/files/{image_id}.jpg"):
        response = httpx.get(fast_server.base_url + path)
        assert response.status_code == 404, path
        validate("ErrorResponse", response.json())


# ---- errors -------------------------------------------------------------------------------------------------------


@pytest.mark.server
@pytest.mark.parametrize(
    ("body", "message", "param", "code"),
    [
        ({"model": "dall-e-3", "n": 2}, "You must provide n=1 for this model.", None, None),
        ({"model": "dall-e-3", "size": "512x512"}, "The size is not supported by this model.", None, "invalid_size"),
        ({"model": "dall-e-2", "size": "1792x1024"}, "The size is not supported by this model.", None, "invalid_size"),
        ({"size": "1000x1000"}, "'1000x1000' is not one of ['256x256', '512x512', '1024x1024', '1792x1024', "
         "'1024x1792'] - 'size'", None, None),
        ({"n": 11}, "Invalid 'n': integer above maximum value. Expected a value <= 10, but got 11 instead.", "n",
         "integer_above_max_value"),
        ({"n": "abc"}, "Invalid type for 'n': expected an integer, but got a string instead.", "n", "invalid_type"),
        ({"response_format": "png"}, "Invalid value: 'png'. Supported values are: 'url', and 'b64_json'.",
         "response_format", "invalid_value"),
        ({"model": "dall-e-3", "quality": "low"}, "Invalid value: 'low'. Supported values are: 'standard', and 'hd'.",
         "quality", "invalid_value"),
        ({"prompt": "x" * 1001}, "Invalid 'prompt': string too long. Expected a string with maximum length 1000, but "
         "got a string with length 1001 instead.", "prompt", "string_above_max_length"),
        ({"prompt": None}, "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter"),
    ],
)
def test_validation_errors(fast_server, body, message, param, code):
    request = {"prompt": "A tree", **body}
    if request["prompt"] is None:
        del request["prompt"]
    assert_error(post(fast_server, request), 400, message, param=param, code=code)


@pytest.mark.server
def test_model_errors(fast_server):
    unknown = httpx.post(fast_server.base_url + "/v1/images/generations", json={"model": "dall-e-4", "prompt": "x"})
    assert_error(unknown, 404, "The model `dall-e-4` does not exist or you do not have access to it.",
                 code="model_not_found")
    assert_error(post(fast_server, {"model": "gpt-4o", "prompt": "x"}), 404,
                 "This model is not supported in the v1/images/generations endpoint.", param="model")


# ---- speed, cost, limits (in process) -----------------------------------------------------------------------------


def test_largest_image_encodes_fast():
    from sentra_openai.engine.content.png import picture_png

    timings = []
    for seed in range(3):
        started = time.perf_counter()
        data = picture_png(1792, 1024, seed)
        timings.append(time.perf_counter() - started)
        assert ihdr_size(data) == (1792, 1024)
    assert statistics.median(timings) < 0.1


def test_pictures_decode_and_differ_by_seed():
    from sentra_openai.engine.content.png import picture_png

    first = decode_png(picture_png(256, 256, 1))
    assert decode_png(picture_png(256, 256, 1)) == first
    assert decode_png(picture_png(256, 256, 2))[2] != first[2]


def test_images_per_minute_limit(tmp_path):
    """dall-e-2 at tier 1 allows 5 images a minute (catalog); the 6th gets OpenAI's images 429, and a refill
    admits again."""
    import yaml
    from sentra_openai.config import load_settings
    from sentra_openai.engine import ManualClock, Request, build_engine

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"error_injection": {"enable": False}, "rate_limiting": {"default_tier": "tier1"}}))
    clock = ManualClock()
    engine = build_engine(load_settings(config_path=config, mode="default", environ={},
                                        cli={"models.as_of": PINNED_DAY}), clock=clock)

    def generate(n: int):
        body = orjson.dumps({"model": "dall-e-2", "prompt": "a dot", "n": n, "size": "256x256"})
        return engine.handle(Request("POST", "/v1/images/generations",
                                     {"authorization": "Bearer sk-a", "host": "localhost"}, body))

    assert generate(3).status == 200
    assert generate(2).status == 200
    refused = generate(1)
    assert refused.status == 429
    error = orjson.loads(refused.body)
    validate("ErrorResponse", error)
    organization = engine.services.rate_limits.organization_id
    assert error["error"] == {
        "message": f"Rate limit exceeded for images per minute in organization {organization}. Limit: 5/1min. "
                   "Current: 6/1min. Please visit https://platform.openai.com/docs/guides/rate-limits to learn how to "
                   "increase your rate limit.",
        "type": "requests", "param": None, "code": "rate_limit_exceeded",
    }
    assert int(refused.headers["retry-after"]) >= 1
    assert not any(name.startswith("x-ratelimit") for name in refused.headers)
    clock.advance(12.5)  # one image's worth of refill at 5 per minute
    assert generate(1).status == 200
    assert generate(1).status == 429

"""The GPT-image models on POST /v1/images/generations through the official SDK: base64 pictures in real PNG, JPEG
and WebP, `size` (auto, the standard sizes, free sizes on gpt-image-2), `quality`, `background`, `n`, token usage
with its cost, partial-image streams, and the 400s for what these models refuse."""

from __future__ import annotations

import httpx
import pytest
from openapi_schemas import validate
from sdk_checks import bad_request, picture

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def client(fast_server):
    return fast_server.client(max_retries=0)


def test_generation_answers_b64_with_the_facts_and_usage_of_the_spec(client):
    raw = client.images.with_raw_response.generate(prompt="A lighthouse at dusk", model="gpt-image-1.5",
                                                   quality="medium", size="1024x1536", n=2)
    body = raw.http_response.json()
    validate("ImagesResponse", body)
    result = raw.parse()
    assert len(result.data) == 2 and all(item.url is None for item in result.data)
    assert [picture(item.b64_json).size for item in result.data] == [(1024, 1536)] * 2
    assert result.data[0].b64_json != result.data[1].b64_json
    assert (result.size, result.quality, result.background, result.output_format) == (
        "1024x1536", "medium", "opaque", "png")
    text = result.usage.input_tokens_details.text_tokens
    assert text > 0 and result.usage.input_tokens_details.image_tokens == 0
    assert result.usage.output_tokens == 2 * 1584  # medium portrait, per picture
    expected = (text * 5 + 2 * 1584 * 32) / 1_000_000  # gpt-image-1.5: text $5, image output $32 per 1M
    assert float(raw.headers["x-sentra-cost-usd"]) == pytest.approx(expected, abs=1e-6)
    assert "x-ratelimit-limit-requests" not in raw.headers  # the images endpoint sends none (capture)


def test_the_same_request_draws_the_same_picture(client):
    first = client.images.generate(prompt="A red kite", model="gpt-image-1-mini", quality="low")
    second = client.images.generate(prompt="A red kite", model="gpt-image-1-mini", quality="low")
    other = client.images.generate(prompt="A blue kite", model="gpt-image-1-mini", quality="low")
    assert first.data[0].b64_json == second.data[0].b64_json != other.data[0].b64_json


def test_auto_size_and_quality_are_resolved_in_the_answer(client):
    result = client.images.generate(prompt="A fox", model="gpt-image-2")
    assert (result.size, result.quality) == ("1024x1024", "high")
    assert result.usage.output_tokens == 4160


def test_output_formats_are_real_encodings(client):
    png = client.images.generate(prompt="A fox", model="gpt-image-2", quality="low", background="transparent")
    decoded = picture(png.data[0].b64_json)
    assert decoded.format == "PNG" and decoded.mode == "RGBA" and decoded.getextrema()[3][0] == 0
    assert png.background == "transparent"
    jpeg = client.images.generate(prompt="A fox", model="gpt-image-2", quality="low", output_format="jpeg",
                                  output_compression=30)
    assert picture(jpeg.data[0].b64_json).format == "JPEG" and jpeg.output_format == "jpeg"
    webp = client.images.generate(prompt="A fox", model="gpt-image-2", quality="low", output_format="webp")
    assert picture(webp.data[0].b64_json).format == "WEBP"


def test_gpt_image_2_takes_free_sizes_within_its_limits(client):
    result = client.images.generate(prompt="A banner", model="gpt-image-2", size="1536x864", quality="low")
    assert picture(result.data[0].b64_json).size == (1536, 864) and result.size == "1536x864"
    for size in ("1530x864", "3840x1024", "4096x2304"):  # not /16, beyond 3:1, over the pixel limit
        assert bad_request(lambda s=size: client.images.generate(prompt="x", model="gpt-image-2", size=s))["param"] == \
            "size"
    body = bad_request(lambda: client.images.generate(prompt="x", model="gpt-image-1.5", size="1536x864"))
    assert body["message"] == ("Invalid value: '1536x864'. Supported values are: '1024x1024', '1536x1024', "
                               "'1024x1536', and 'auto'.")


def test_what_gpt_image_models_refuse(client):
    cases = [
        ({"response_format": "url"}, "response_format"),  # always b64
        ({"quality": "hd"}, "quality"),
        ({"quality": "xhigh"}, "quality"),  # gpt-image-2.5 only
        ({"background": "transparent", "output_format": "jpeg"}, "background"),
        ({"output_compression": 101}, "output_compression"),
        ({"moderation": "strict"}, "moderation"),
        ({"n": 11}, "n"),
        ({"partial_images": 4, "stream": True}, "partial_images"),
        ({"frame_count": 2}, "frame_count"),  # GIF only
    ]
    for extra, param in cases:
        body = bad_request(lambda e=extra: client.images.generate(prompt="x", model="gpt-image-1.5", **e))
        assert body["param"] == param, (extra, body)
    assert client.images.generate(prompt="x", model="gpt-image-2.5-flare", quality="xhigh").quality == "xhigh"


def test_a_gpt_image_only_parameter_without_a_model_means_gpt_image(fast_server):
    response = httpx.post(fast_server.base_url + "/v1/images/generations",
                          json={"prompt": "A fox", "output_format": "webp", "quality": "low"})
    assert response.status_code == 200, response.text
    assert response.json()["output_format"] == "webp" and "usage" in response.json()


def test_without_a_model_after_dalle2_shut_down_the_default_is_gpt_image(fast_server):
    # The suite's day (conftest SUITE_AS_OF) is after dall-e-2's shutdown (2026-05-12).
    response = httpx.post(fast_server.base_url + "/v1/images/generations", json={"prompt": "A fox", "size": "1024x1024"})
    assert response.status_code == 200, response.text
    assert "b64_json" in response.json()["data"][0] and response.json()["usage"]["output_tokens"] == 4160


def test_a_stream_sends_partial_images_and_one_completed_event_per_picture(client):
    events = list(client.images.generate(prompt="A fox", model="gpt-image-1.5", quality="low", stream=True,
                                         partial_images=3, n=2))
    kinds = [e.type for e in events]
    assert kinds == (["image_generation.partial_image"] * 3 + ["image_generation.completed"]) * 2
    for event in events:
        validate("ImageGenPartialImageEvent" if event.type.endswith("partial_image") else "ImageGenCompletedEvent",
                 event.model_dump(exclude_none=True))
    partial, final = picture(events[0].b64_json), picture(events[3].b64_json)
    assert partial.size == final.size == (1024, 1024)
    assert partial.tobytes() != final.tobytes()  # a coarser rendering of the same picture
    assert events[3].usage.output_tokens == 2 * 272


def test_a_stream_without_partial_images_is_one_completed_event(fast_server):
    with httpx.stream("POST", fast_server.base_url + "/v1/images/generations",
                      json={"prompt": "A fox", "model": "gpt-image-2", "stream": True, "quality": "low"}) as response:
        text = response.read().decode()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert text.count("event: image_generation.completed\ndata: ") == 1
    assert "partial_image" not in text

"""POST /v1/images/edits and /v1/images/variations through the official SDK's multipart uploads: GPT-image edits
with several images, masks and markups, dall-e-2 edits and variations, and the 400s OpenAI sends for bad uploads
(never a 500). Bodies are checked against the official schemas and the SDK's own types."""

from __future__ import annotations

import base64
import io
import warnings

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_schemas import validate
from PIL import Image
from sdk_checks import bad_request, picture

pytestmark = pytest.mark.server

# dall-e-2 was retired on 2026-05-12 (SDK 3.57.0): the dall-e tests judge shutdowns on a day before that.
PINNED_DAY = "2026-04-01"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import start_server

    running = start_server(tmp_path_factory.mktemp("image-edits"), {"metrics": {"enable": False}},
                           env={"SENTRA_MODELS_AS_OF": PINNED_DAY})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    return server.client(max_retries=0)


def png(width: int, height: int, *, alpha: bool = True, fmt: str = "PNG") -> bytes:
    mode = "RGBA" if alpha else "RGB"
    image = Image.new(mode, (width, height), (200, 40, 40, 0) if alpha else (200, 40, 40))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


# ---- GPT-image edits ------------------------------------------------------------------------------------------------


def test_an_edit_returns_a_png_of_the_requested_size_with_token_usage(client):
    raw = client.images.with_raw_response.edit(image=("photo.png", png(1024, 1024), "image/png"),
                                               prompt="Add a red hat", model="gpt-image-1.5", quality="low")
    result = raw.parse()
    validate("ImagesResponse", raw.http_response.json())
    image = picture(result.data[0].b64_json)
    assert (image.format, image.size) == ("PNG", (1024, 1024))
    assert result.data[0].url is None
    assert (result.size, result.quality, result.output_format, result.background) == (
        "1024x1024", "low", "png", "opaque")
    usage = result.usage
    # One 1024x1024 input: shortest side to 512 -> one tile -> 65 + 129 = 194 image tokens; low 1024x1024 = 272 out.
    assert usage.input_tokens_details.image_tokens == 194
    assert usage.output_tokens == 272
    assert usage.input_tokens == usage.input_tokens_details.image_tokens + usage.input_tokens_details.text_tokens
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    # gpt-image-1.5: text $5, image input $8, image output $32 per 1M tokens.
    text = usage.input_tokens_details.text_tokens
    expected = (text * 5 + 194 * 8 + 272 * 32) / 1_000_000
    assert float(raw.headers["x-sentra-cost-usd"]) == pytest.approx(expected, abs=1e-6)


def test_several_images_count_each_and_auto_size_follows_the_first(client):
    result = client.images.edit(
        image=[("wide.png", png(1536, 1024), "image/png"), ("small.jpg", png(64, 64, alpha=False, fmt="JPEG"), "image/jpeg"),
               ("tile.webp", png(600, 600, fmt="WEBP"), "image/webp")],
        prompt="Combine them", model="gpt-image-1.5", size="auto", quality="medium", input_fidelity="high")
    assert result.size == "1536x1024"
    assert picture(result.data[0].b64_json).size == (1536, 1024)
    # 1536x1024 -> 768x512 -> 2 tiles; the squares -> 1 tile each; high fidelity adds 6240 (wide) / 4160 (square).
    assert result.usage.input_tokens_details.image_tokens == (65 + 2 * 129 + 6240) + 2 * (65 + 129 + 4160)
    assert result.usage.output_tokens == 1568


def test_jpeg_and_webp_outputs_are_real_files_and_compression_shrinks_them(client):
    image = ("photo.png", png(1024, 1024), "image/png")
    best = client.images.edit(image=image, prompt="A tree", model="gpt-image-2", output_format="jpeg")
    small = client.images.edit(image=image, prompt="A tree", model="gpt-image-2", output_format="jpeg",
                               output_compression=10)
    assert picture(best.data[0].b64_json).format == "JPEG" and best.output_format == "jpeg"
    assert len(base64.b64decode(small.data[0].b64_json)) < len(base64.b64decode(best.data[0].b64_json))
    webp = client.images.edit(image=image, prompt="A tree", model="gpt-image-2", output_format="webp",
                              background="transparent")
    decoded = picture(webp.data[0].b64_json)
    assert decoded.format == "WEBP" and decoded.mode == "RGBA"
    assert decoded.getextrema()[3][0] == 0  # some pixels are fully transparent


def test_a_mask_must_be_a_png_of_the_same_size_with_alpha(client):
    image = ("photo.png", png(512, 512), "image/png")
    ok = client.images.edit(image=image, mask=("mask.png", png(512, 512), "image/png"), prompt="Fill the hole",
                            model="gpt-image-1-mini")
    assert ok.data[0].b64_json
    body = bad_request(lambda: client.images.edit(image=image, mask=("mask.png", png(256, 256), "image/png"),
                                                  prompt="x", model="gpt-image-1-mini"))
    assert body["param"] == "mask"
    body = bad_request(lambda: client.images.edit(image=image, mask=("mask.png", png(512, 512), "image/png"),
                                                  markup=("m.png", png(512, 512), "image/png"), prompt="x",
                                                  model="gpt-image-1-mini"))
    assert body["param"] == "markup"


def test_a_stream_sends_partial_images_then_the_completed_image(client):
    stream = client.images.edit(image=("photo.png", png(1024, 1024), "image/png"), prompt="Add a hat",
                                model="gpt-image-1.5", stream=True, partial_images=2, quality="low")
    events = list(stream)
    assert [e.type for e in events] == ["image_edit.partial_image"] * 2 + ["image_edit.completed"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    assert picture(events[-1].b64_json).size == (1024, 1024)
    assert events[-1].usage.output_tokens == 272


# ---- bad uploads: OpenAI's 400s ---------------------------------------------------------------------------------------


def test_bytes_without_a_type_get_the_unsupported_mimetype_400(client):
    body = bad_request(lambda: client.images.edit(image=b"Example data", prompt="x", model="gpt-image-1.5"))
    assert body == {
        "message": "Invalid file 'image': unsupported mimetype ('application/octet-stream'). Supported file formats "
                   "are 'image/jpeg', 'image/png', and 'image/webp'.",
        "type": "invalid_request_error", "param": "image", "code": "unsupported_file_mimetype"}


@pytest.mark.parametrize("data", [b"", b"not an image", png(64, 64)[:40], b"\x89PNG\r\n\x1a\n" + b"\x00" * 100])
def test_broken_image_files_get_a_400_not_a_500(client, data):
    body = bad_request(lambda: client.images.edit(image=("x.png", data, "image/png"), prompt="x",
                                                  model="gpt-image-1.5"))
    assert body["param"] == "image" and body["code"] == "invalid_image_file"


def test_malformed_multipart_and_json_bodies_get_a_400(server):
    headers = {"authorization": "Bearer sk-test"}
    url = server.base_url + "/v1/images/edits"
    as_json = httpx.post(url, json={"prompt": "x", "image": "abc"}, headers=headers)
    assert as_json.status_code == 400
    assert as_json.json()["error"]["message"].startswith("Invalid Content-Type header (application/json), expected "
                                                          "multipart/form-data.")
    broken = httpx.post(url, content=b"--b\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nx",
                        headers={**headers, "content-type": "multipart/form-data; boundary=b"})
    assert broken.status_code == 400, broken.text
    no_image = httpx.post(url, files={"prompt": (None, "x")}, headers=headers)
    assert no_image.status_code == 400
    assert no_image.json()["error"]["param"] == "image"
    unknown = httpx.post(url, files={"prompt": (None, "x"), "colour": (None, "red"),
                                     "image": ("a.png", png(64, 64), "image/png")}, headers=headers)
    assert unknown.json()["error"]["message"] == "Unrecognized request argument supplied: colour"
    not_a_number = httpx.post(url, files={"prompt": (None, "x"), "n": (None, "two"),
                                          "image": ("a.png", png(64, 64), "image/png")}, headers=headers)
    assert not_a_number.status_code == 400 and not_a_number.json()["error"]["param"] == "n"


def test_gpt_image_edits_refuse_response_format(client):
    body = bad_request(lambda: client.images.edit(image=("a.png", png(64, 64), "image/png"), prompt="x",
                                                  model="gpt-image-1.5", response_format="url"))
    assert body["param"] == "response_format" and body["code"] == "unknown_parameter"


# ---- dall-e-2 edits and variations ------------------------------------------------------------------------------------


def test_dalle2_edit_and_variation_return_urls_to_pngs(client, server):
    edit = client.images.edit(image=("a.png", png(512, 512), "image/png"), prompt="A cat", model="dall-e-2",
                              size="256x256", n=2)
    assert len(edit.data) == 2 and edit.usage is None
    served = httpx.get(edit.data[0].url)
    assert served.status_code == 200 and Image.open(io.BytesIO(served.content)).size == (256, 256)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK deprecates variations
        variation = client.images.create_variation(image=("a.png", png(256, 256), "image/png"),
                                                   response_format="b64_json", size="512x512")
    assert picture(variation.data[0].b64_json).size == (512, 512)


def test_dalle2_refuses_opaque_images_without_a_mask_and_variations_take_only_dalle2(client):
    body = bad_request(lambda: client.images.edit(image=("a.png", png(256, 256, alpha=False), "image/png"),
                                                  prompt="x", model="dall-e-2"))
    assert body["message"] == "Invalid input image - format must be in ['RGBA', 'LA', 'L'], got RGB."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        body = bad_request(lambda: client.images.create_variation(image=("a.png", png(256, 256), "image/png"),
                                                                  model="gpt-image-1.5"))
        assert body["param"] == "model"
        body = bad_request(lambda: client.images.create_variation(image=("a.jpg", png(256, 256), "image/jpeg")))
        assert body["message"] == ("Invalid file 'image': unsupported mimetype ('image/jpeg'). Supported file "
                                   "formats are 'image/png'.")


# ---- fuzzing: no multipart body yields a 500 ------------------------------------------------------------------------


_FIELDS = ["image", "image[]", "mask", "markup", "prompt", "model", "n", "size", "quality", "stream", "partial_images",
           "output_format", "output_compression", "background", "input_fidelity", "svg[model]", "response_format"]
_VALUES = st.sampled_from(["", "x", "1", "0", "-1", "true", "2", "gpt-image-1.5", "dall-e-2", "gpt-image-2", "auto",
                           "1024x1024", "256x256", "png", "jpeg", "transparent", "high", "low", "3", "100", "é"])
_CONTENT_TYPES = st.sampled_from([None, "image/png", "image/jpeg", "image/webp", "application/octet-stream", "text/plain"])
_SMALL_PNG = png(32, 32)
_FILE_DATA = st.sampled_from([_SMALL_PNG, _SMALL_PNG[:50], png(32, 16, alpha=False), b"", b"GIF89a", b"\xff\xd8\xff"])


def _engine():
    from sentra_openai.config import load_settings
    from sentra_openai.engine import ManualClock, build_engine

    return build_engine(load_settings(mode="fast", environ={}, cli={"models.as_of": PINNED_DAY}), clock=ManualClock())


_FUZZ_ENGINE = None


def _multipart(parts: list[tuple[str, str | None, str | None, bytes]], boundary: bytes) -> bytes:
    out = b""
    for name, filename, content_type, data in parts:
        out += b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"" + name.encode() + b"\""
        if filename is not None:
            out += b"; filename=\"" + filename.encode() + b"\""
        out += b"\r\n"
        if content_type is not None:
            out += b"Content-Type: " + content_type.encode() + b"\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


_PART = st.tuples(st.sampled_from(_FIELDS), st.sampled_from([None, "a.png"]), _CONTENT_TYPES,
                  st.one_of(_FILE_DATA, _VALUES.map(str.encode)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(_PART, max_size=8), path=st.sampled_from(["/v1/images/edits", "/v1/images/variations"]),
       cut=st.none() | st.integers(0, 400), flip=st.none() | st.integers(0, 400))
def test_no_multipart_body_yields_a_500(parts, path, cut, flip):
    from sentra_openai.engine import Request
    from sentra_openai.engine.realism.pacing import immediate_events

    global _FUZZ_ENGINE
    if _FUZZ_ENGINE is None:
        _FUZZ_ENGINE = _engine()
    body = _multipart(parts, b"fuzzb")
    if cut is not None:
        body = body[:cut]
    if flip is not None and flip < len(body):
        body = body[:flip] + bytes([body[flip] ^ 0x5A]) + body[flip + 1:]
    headers = {"content-type": "multipart/form-data; boundary=fuzzb", "authorization": "Bearer sk-test"}
    outcome = _FUZZ_ENGINE.handle(Request("POST", path, headers, body))
    assert outcome.status < 500, (body[:400], outcome.body[:400])
    if outcome.stream is not None:
        for _ in immediate_events(outcome.stream):
            pass
    elif outcome.status >= 400:
        validate("ErrorResponse", __import__("orjson").loads(outcome.body))

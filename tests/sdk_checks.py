"""Checks shared by the endpoint tests that drive the server through the official SDK."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openapi_schemas import validate
from PIL import Image


def bad_request(call: Callable[[], Any]) -> dict:
    """The error body of the 400 that `call` must raise, checked against the spec's ErrorResponse."""
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    body = caught.value.body
    validate("ErrorResponse", {"error": body})
    return body


def picture(b64: str) -> Image.Image:
    """A base64 picture of an images response, decoded (so a broken PNG or JPEG fails here)."""
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image

"""The GPT-image pictures in the formats the API returns (PNG, JPEG, WebP, optionally with a transparent
background), their coarse partial renderings for streams, and the reading of uploaded images.

Encoding and decoding use Pillow: real JPEG and WebP encoders (and a decoder that tells a real image from a broken
upload) are far beyond what this project should write itself, and Pillow is the standard, well-kept library for it.
The composition (gradient, rectangles, a disc, all from a seeded RNG) is the one content/png.py draws for dall-e.
"""

from __future__ import annotations

import io
import random
import warnings
from dataclasses import dataclass

from PIL import Image, ImageDraw

FORMATS = ("png", "jpeg", "webp")
MIME_OF_FORMAT = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_PIL_FORMAT = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
_GRADIENT_BANDS = 48
# Decoding a hostile upload must stay bounded: Pillow warns above its default and refuses at twice that.
_MAX_INPUT_PIXELS = 64_000_000


def draw(width: int, height: int, seed: int, *, transparent: bool) -> Image.Image:
    """The picture for `seed`: same inputs, same pixels. A transparent background leaves only the shapes opaque."""
    rng = random.Random(seed)
    top, bottom = _colour(rng), _colour(rng)
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if not transparent:
        for band in range(_GRADIENT_BANDS):
            t = band / (_GRADIENT_BANDS - 1)
            colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom))
            y0, y1 = band * height // _GRADIENT_BANDS, (band + 1) * height // _GRADIENT_BANDS
            pen.rectangle((0, y0, width, y1), fill=colour + (255,))
    for _ in range(rng.randint(3, 6)):
        w = rng.randint(max(1, width // 10), max(1, width // 2))
        h = rng.randint(max(1, height // 10), max(1, height // 2))
        x, y = rng.randrange(0, max(1, width - w + 1)), rng.randrange(0, max(1, height - h + 1))
        pen.rectangle((x, y, x + w - 1, y + h - 1), fill=_colour(rng) + (255,))
    radius = rng.randint(max(1, min(width, height) // 8), max(1, min(width, height) // 3))
    cx = rng.randrange(radius, max(radius + 1, width - radius))
    cy = rng.randrange(radius, max(radius + 1, height - radius))
    pen.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=_colour(rng) + (255,))
    return image


def partial(image: Image.Image, index: int, count: int) -> Image.Image:
    """The `index`-th of `count` partial renderings: coarse blocks that sharpen towards the final picture."""
    factor = 2 ** (count - index + 2)  # e.g. 3 partials: 1/32, 1/16, 1/8 of the resolution
    small = image.resize((max(1, image.width // factor), max(1, image.height // factor)), Image.Resampling.BILINEAR)
    return small.resize(image.size, Image.Resampling.NEAREST)


def encode(image: Image.Image, output_format: str, compression: int) -> bytes:
    """`compression` is the API's output_compression (0-100, 100 = best quality), used by JPEG and WebP."""
    out = io.BytesIO()
    if output_format == "png":
        image.save(out, "PNG", compress_level=1)  # fast: the pictures are flat shapes that compress well anyway
    elif output_format == "jpeg":  # no alpha channel: transparency is refused before this point
        image.convert("RGB").save(out, "JPEG", quality=max(1, min(95, compression)))
    elif output_format == "webp":
        if compression >= 100:
            image.save(out, "WEBP", lossless=True, method=0)
        else:
            image.save(out, "WEBP", quality=compression, method=0)
    else:
        raise ValueError(f"unknown output format {output_format!r}")
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class ImageFacts:
    format: str  # png | jpeg | webp
    width: int
    height: int
    mode: str  # Pillow's mode: RGB, RGBA, L, LA, P ...

    @property
    def has_alpha(self) -> bool:
        return self.mode in ("RGBA", "LA", "PA") or self.mode.endswith("A")


def inspect(data: bytes) -> ImageFacts | None:
    """What an uploaded file is, or None when it is not a complete PNG, JPEG or WebP image."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data), formats=list(_PIL_FORMAT)) as image:
                if image.width * image.height > _MAX_INPUT_PIXELS or image.format not in _PIL_FORMAT:
                    return None
                facts = ImageFacts(_PIL_FORMAT[image.format], image.width, image.height, image.mode)
                image.load()  # a truncated or corrupt file fails here, not just its header
        except Exception:  # noqa: BLE001 -- Pillow raises many kinds (OSError, SyntaxError, DecompressionBombError ...)
            return None
    return facts


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)

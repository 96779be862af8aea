"""A small PNG encoder and the deterministic pictures the simulated image models "draw".

A picture is a vertical two-colour gradient with a few solid rectangles and a disc on it, all chosen by a seeded
RNG. Every row is piecewise constant, so it is written directly in PNG's "Sub" filter form (a colour delta where the
colour changes, zeros elsewhere): no per-pixel Python work, and zlib squeezes the zeros at memory speed, so even a
1792x1024 image encodes in a few milliseconds. Format: PNG specification (W3C, 2nd edition), chunks IHDR/IDAT/IEND,
colour type 2 (RGB, 8 bits per channel), filter type 1 (Sub), or 2 (Up) for a row repeating the one above.
"""

from __future__ import annotations

import math
import random
import struct
import zlib
from collections.abc import Iterable
from itertools import pairwise

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BYTES_PER_PIXEL = 3
_SUB_FILTER = 1
_UP_FILTER = 2
_GRADIENT_BANDS = 48  # the gradient changes colour in steps, so neighbouring rows repeat (cheaper to build)
# Level 1: the rows are mostly zeros, which even the fastest level compresses well; higher levels cost 2-3x the
# time for no benefit a client would notice.
_ZLIB_LEVEL = 1


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(width: int, height: int, filtered_rows: Iterable[bytes]) -> bytes:
    """An RGB PNG from scanlines that already start with their filter-type byte."""
    # 8 bits per channel, colour type 2 (RGB), then the only defined compression, filter and interlace methods.
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    compressor = zlib.compressobj(_ZLIB_LEVEL)
    parts = [compressor.compress(row) for row in filtered_rows]  # no multi-megabyte join of the raw image
    parts.append(compressor.flush())
    data = b"".join(parts)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def picture_png(width: int, height: int, seed: int) -> bytes:
    """The picture for `seed` at the given size, as PNG bytes. Same inputs, same bytes."""
    rng = random.Random(seed)
    top, bottom = _colour(rng), _colour(rng)
    rectangles = []
    for _ in range(rng.randint(3, 6)):
        w = rng.randint(max(1, width // 10), max(1, width // 2))
        h = rng.randint(max(1, height // 10), max(1, height // 2))
        x, y = rng.randrange(0, max(1, width - w + 1)), rng.randrange(0, max(1, height - h + 1))
        rectangles.append((x, y, x + w, y + h, _colour(rng)))
    radius = rng.randint(max(1, min(width, height) // 8), max(1, min(width, height) // 3))
    cx, cy = rng.randrange(radius, max(radius + 1, width - radius)), rng.randrange(radius, max(radius + 1, height - radius))
    disc = (cx, cy, radius, _colour(rng))

    rows: list[bytes] = []
    cache: dict[tuple, bytes] = {}
    same_as_above = bytes([_UP_FILTER]) + bytes(width * _BYTES_PER_PIXEL)  # "Up" filter: all zeros
    previous_key: tuple | None = None
    for y in range(height):
        band = y * _GRADIENT_BANDS // height
        t = band / max(1, _GRADIENT_BANDS - 1)
        background = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom))
        spans = [(x0, x1, colour) for x0, y0, x1, y1, colour in rectangles if y0 <= y < y1]
        dy = y - disc[1]
        if abs(dy) < disc[2]:
            dx = int(math.sqrt(disc[2] * disc[2] - dy * dy))
            spans.append((max(0, disc[0] - dx), min(width, disc[0] + dx + 1), disc[3]))
        key = (background, tuple(spans))
        if key == previous_key:
            rows.append(same_as_above)
            continue
        previous_key = key
        row = cache.get(key)
        if row is None:
            row = _sub_filtered_row(width, background, spans)
            cache[key] = row
        rows.append(row)
    return encode_png(width, height, rows)


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def _sub_filtered_row(width: int, background: tuple[int, ...], spans: list[tuple[int, int, tuple[int, int, int]]]) -> bytes:
    """One scanline in Sub-filter form: spans painted in order over the background, later spans on top."""
    cuts = sorted({0, width, *(x for span in spans for x in span[:2] if 0 <= x <= width)})
    row = bytearray(1 + width * _BYTES_PER_PIXEL)
    row[0] = _SUB_FILTER
    previous = (0, 0, 0)  # Sub filtering treats the pixel left of the first one as black
    for start, _ in pairwise(cuts):  # the cuts are distinct, so every interval holds at least one pixel
        colour = background
        for x0, x1, span_colour in spans:
            if x0 <= start < x1:
                colour = span_colour
        if colour != previous:
            at = 1 + start * _BYTES_PER_PIXEL
            row[at:at + _BYTES_PER_PIXEL] = bytes((c - p) & 0xFF for c, p in zip(colour, previous))
            previous = colour
    return bytes(row)

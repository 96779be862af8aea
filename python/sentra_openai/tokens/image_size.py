"""An image's width and height, read from its header in a ``data:`` URL (PNG, JPEG, GIF, WEBP).

http(s) URLs are never fetched; callers count them, and images whose header cannot be read, as DEFAULT_IMAGE_SIZE.
"""

from __future__ import annotations

import base64
import binascii
import struct

__all__ = ["DEFAULT_IMAGE_SIZE", "image_dimensions", "image_size_from_bytes"]

DEFAULT_IMAGE_SIZE = (1024, 1024)  # for http(s) URLs (never fetched) and unreadable headers
_HEADER_B64_CHARS = 65536  # decode this much base64 first: enough for PNG/GIF/WEBP and most JPEGs


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def _gif_size(data: bytes) -> tuple[int, int] | None:
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:  # lossy: 14-bit sizes after the frame tag and start code
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:  # lossless: 14-bit (size - 1) fields after the 0x2f signature
        b0, b1, b2, b3 = data[21:25]
        width = 1 + (b0 | (b1 & 0x3F) << 8)
        height = 1 + (b1 >> 6 | b2 << 2 | (b3 & 0x0F) << 10)
        return width, height
    if chunk == b"VP8X" and len(data) >= 30:  # extended: 24-bit (canvas size - 1)
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    return None


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers carry no length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def image_size_from_bytes(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, GIF or WEBP header, or None."""
    for parse in (_png_size, _jpeg_size, _gif_size, _webp_size):
        size = parse(data)
        if size is not None:
            return size if size[0] > 0 and size[1] > 0 else None
    return None


def _b64decode(text: str) -> bytes:
    text = "".join(text.split())
    text = text[: len(text) - len(text) % 4]
    return base64.b64decode(text, validate=False)


def image_dimensions(url: str) -> tuple[int, int] | None:
    """Width and height of a `data:image/...;base64,` URL's image; None for other URLs or unreadable data."""
    if not url.startswith("data:"):
        return None
    header, sep, payload = url.partition(",")
    if not sep or ";base64" not in header:
        return None
    try:
        size = image_size_from_bytes(_b64decode(payload[:_HEADER_B64_CHARS]))
        if size is None and len(payload) > _HEADER_B64_CHARS:  # e.g. a JPEG with a large EXIF block first
            size = image_size_from_bytes(_b64decode(payload))
    except (binascii.Error, ValueError, struct.error):
        return None
    return size

"""multipart/form-data request bodies (image edits and variations), read into plain fields and uploaded files.

The official SDKs send every scalar as a text part (`n` = "2", `stream` = "true"), arrays as repeated `name[]`
parts and objects as `name[key]` / `name[key][sub]` parts (openai-python `_files.py`/`_utils.py` form
serialisation); this module rebuilds those shapes, and the endpoint converts the text of each field to the type the
spec gives it (`typed_fields`). The parser is the `multipart` package (a small, maintained, pure-Python
RFC 7578 parser); the body is already in memory, so nothing spills to disk.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import multipart  # type: ignore[import-untyped]

from ..errors import ApiError
from ..types import Request

MULTIPART = "multipart/form-data"
_KEY_PATH = re.compile(r"\[([^\[\]]*)\]")


@dataclass(slots=True)
class Upload:
    field: str
    filename: str | None
    content_type: str | None  # the part's own Content-Type (OpenAI judges the file type by it)
    data: bytes


@dataclass(slots=True)
class Form:
    fields: dict[str, Any] = field(default_factory=dict)  # text parts, nested as the SDK flattened them
    files: dict[str, list[Upload]] = field(default_factory=dict)  # by field name, `[]` stripped


def wrong_content_type(content_type: str | None) -> ApiError:
    # OpenAI's answer to a JSON body on a multipart endpoint (audio and image uploads, third-party 400 bodies).
    return ApiError(400, f"Invalid Content-Type header ({content_type or 'None'}), expected {MULTIPART}. "
                    "(HINT: If you're using curl, you can pass -H 'Content-Type: multipart/form-data')")


def parse_form(request: Request) -> Form:
    content_type = request.headers.get("content-type")
    mime, options = multipart.parse_options_header(content_type or "")
    if mime.lower() != MULTIPART:
        raise wrong_content_type(content_type)
    boundary = options.get("boundary")
    if not boundary:
        raise ApiError(400, "Could not parse multipart form: the Content-Type header has no boundary.")
    size = len(request.body)
    try:
        parser = multipart.MultipartParser(
            io.BytesIO(request.body), boundary, content_length=size, spool_limit=size + 1, memory_limit=size + 1,
            part_limit=256,
        )
        parts = list(parser)
    except multipart.MultipartError as exc:
        raise ApiError(400, f"Could not parse multipart form: {exc}") from None
    form = Form()
    for part in parts:
        name = part.name or ""
        base, path = _split_name(name)
        if part.filename is not None:
            upload = Upload(base, part.filename, _part_type(part), part.raw)
            form.files.setdefault(base, []).append(upload)
            continue
        try:
            text = part.raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, f"Invalid value for '{base}': the form field is not UTF-8 text.", param=base) from None
        _assign(form.fields, base, path, text)
    return form


def _part_type(part: Any) -> str | None:
    """The part's Content-Type as sent: the parser fills in a default when the header is absent."""
    for key, value in part.headerlist:
        if key.lower() == "content-type":
            return value.split(";")[0].strip().lower() or None
    return None


def _split_name(name: str) -> tuple[str, list[str]]:
    """`svg[reasoning][effort]` -> ("svg", ["reasoning", "effort"]); `image[]` -> ("image", [""])."""
    at = name.find("[")
    if at <= 0:
        return name, []
    return name[:at], _KEY_PATH.findall(name[at:])


def _assign(fields: dict[str, Any], base: str, path: list[str], text: str) -> None:
    if not path:
        fields[base] = text
        return
    if path == [""]:
        existing = fields.setdefault(base, [])
        if isinstance(existing, list):
            existing.append(text)
        return
    node = fields.setdefault(base, {})
    if not isinstance(node, dict):
        return  # a scalar and an object under one name: the first wins, as a later typed read reports
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            return
        node = child
    node[path[-1]] = text


def typed_fields(fields: dict[str, Any], integers: frozenset[str], booleans: frozenset[str]) -> dict[str, Any]:
    """Form text converted to JSON types where the spec types a field as integer or boolean; other text is kept,
    so the endpoint's ordinary checks answer with OpenAI's usual messages."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, str) and name in integers:
            out[name] = _integer(name, value)
        elif isinstance(value, str) and name in booleans:
            lowered = value.strip().lower()
            if lowered not in ("true", "false"):
                raise ApiError(400, f"Invalid value for '{name}': expected a boolean, but got '{value}' instead.",
                               param=name, code="invalid_value")
            out[name] = lowered == "true"
        else:
            out[name] = value
    return out


def _integer(name: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ApiError(400, f"Invalid type for '{name}': expected an integer, but got a string instead.",
                       param=name, code="invalid_type") from None

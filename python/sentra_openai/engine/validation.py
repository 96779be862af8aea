"""Typed reads of request fields that fail with OpenAI's own 400 messages (errors.py)."""

from __future__ import annotations

from typing import Any

import orjson

from . import errors

_MISSING = object()


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise errors.invalid_json()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise errors.invalid_json() from None
    if not isinstance(data, dict):
        raise errors.invalid_json()
    return data


class Fields:
    """Reads `data[name]` with the JSON type OpenAI's schema gives the field; `path` prefixes param names."""

    def __init__(self, data: dict[str, Any], path: str = "") -> None:
        self.data = data
        self.path = path

    def param(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def _get(self, name: str, required: bool, expected: str = "a value") -> Any:
        value = self.data.get(name, _MISSING)
        if required:
            if value is _MISSING:
                raise errors.missing_parameter(self.param(name))
            if value is None:
                raise errors.invalid_type(self.param(name), expected, None)
        return value

    def integer(
        self, name: str, default: int | None = None, *, minimum: int | None = None, maximum: int | None = None,
        required: bool = False,
    ) -> int | None:
        value = self._get(name, required, "an integer")
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise errors.invalid_type(self.param(name), "an integer", value)
        if isinstance(value, float):
            if not value.is_integer():
                raise errors.invalid_type(self.param(name), "an integer", value)
            value = int(value)
        if minimum is not None and value < minimum:
            raise errors.below_minimum(self.param(name), minimum, value, "integer")
        if maximum is not None and value > maximum:
            raise errors.above_maximum(self.param(name), maximum, value, "integer")
        return value

    def number(
        self, name: str, default: float | None = None, *, minimum: float | None = None, maximum: float | None = None,
    ) -> float | None:
        value = self._get(name, False)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise errors.invalid_type(self.param(name), "a number", value)
        if minimum is not None and value < minimum:
            raise errors.below_minimum(self.param(name), minimum, value, "decimal")
        if maximum is not None and value > maximum:
            raise errors.above_maximum(self.param(name), maximum, value, "decimal")
        return float(value)

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        value = self._get(name, False)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            raise errors.invalid_type(self.param(name), "a boolean", value)
        return value

    def string(
        self, name: str, default: str | None = None, *, choices: list[str] | None = None, required: bool = False,
        max_length: int | None = None,
    ) -> str | None:
        value = self._get(name, required, "a string")
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, str):
            raise errors.invalid_type(self.param(name), "a string", value)
        if choices is not None and value not in choices:
            raise errors.invalid_value(self.param(name), value, choices)
        if max_length is not None and len(value) > max_length:
            raise errors.string_too_long(self.param(name), max_length, len(value))
        return value

    def obj(self, name: str, required: bool = False) -> dict[str, Any] | None:
        value = self._get(name, required, "an object")
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, dict):
            raise errors.invalid_type(self.param(name), "an object", value)
        return value

    def array(self, name: str, required: bool = False, *, min_length: int = 0, max_length: int | None = None) -> list[Any] | None:
        value = self._get(name, required, "an array")
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, list):
            raise errors.invalid_type(self.param(name), "an array", value)
        if len(value) < min_length:
            if not value:
                raise errors.empty_array(self.param(name))
            raise errors.ApiError(400, f"Invalid '{self.param(name)}': array too short.", param=self.param(name), code="array_below_min_length")
        if max_length is not None and len(value) > max_length:
            raise errors.array_too_long(self.param(name), max_length, len(value))
        return value

    def string_or_array(self, name: str, *, max_items: int | None = None) -> list[str] | None:
        """A field such as `stop`: one string or an array of strings, normalised to a list."""
        value = self._get(name, False)
        if value is _MISSING or value is None:
            return None
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            if max_items is not None and len(value) > max_items:
                raise errors.array_too_long(self.param(name), max_items, len(value))
            return value
        raise errors.invalid_type(self.param(name), "a string or array of strings", value)

    def reject_unknown(self, known: frozenset[str]) -> None:
        """Chat's wording, which names the field without its path."""
        if known.issuperset(self.data):  # the usual case, checked in C; else the loop finds the first unknown
            return
        for name in self.data:
            if name not in known:
                raise errors.unrecognized_argument(name)

    def reject_unknown_parameters(self, known: frozenset[str] | set[str]) -> None:
        """The Responses API family's wording, which names the field by its path."""
        if known.issuperset(self.data):
            return
        for name in self.data:
            if name not in known:
                raise errors.unknown_parameter(self.param(name))


def check_metadata(metadata: Any) -> dict[str, str]:
    """The spec's Metadata (responses, conversations): at most 16 pairs, keys up to 64 characters, string values up
    to 512."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise errors.invalid_type("metadata", "an object", metadata)
    if len(metadata) > 16:
        raise errors.ApiError(400, "Invalid 'metadata': too many properties. Expected an object with at most 16 "
                                   f"properties, but got an object with {len(metadata)} properties instead.",
                              param="metadata", code="object_above_max_properties")
    for key, value in metadata.items():
        if len(key) > 64:
            raise errors.string_too_long(f"metadata.{key}", 64, len(key))
        if not isinstance(value, str):
            raise errors.invalid_type(f"metadata.{key}", "a string", value)
        if len(value) > 512:
            raise errors.string_too_long(f"metadata.{key}", 512, len(value))
    return metadata

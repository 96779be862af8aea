"""The error raised when a JSON schema cannot be satisfied, and the JSON paths its messages name."""

from __future__ import annotations


class SchemaGenerationError(ValueError):
    """The schema cannot be satisfied (or not by this generator); the message names the JSON path."""


def short_path(path: str) -> str:
    """A JSON path for messages; a runaway recursion's path is abbreviated in the middle."""
    return path if len(path) <= 120 else f"{path[:60]}...{path[-50:]}"


def child_path(path: str, key: str) -> str:
    """The path of property ``key`` below ``path``: ``$.name``, or ``$['odd key']`` when it is not a name."""
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{key!r}]"

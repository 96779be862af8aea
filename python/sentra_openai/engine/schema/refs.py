"""Local ``$ref`` lookup inside one JSON schema document (the generator and the validator both follow refs)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from .errors import SchemaGenerationError


def resolve(root: Any, ref: str, path: str) -> Any:
    """A local reference: "#", "#/json/pointer" ($defs, definitions, anything) or "#anchor"."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise SchemaGenerationError(f"{path}: unsupported $ref {ref!r} (only local references are supported)")
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        found = _find_anchor(root, fragment)
        if found is None:
            raise SchemaGenerationError(f"{path}: $ref {ref!r} names no $anchor")
        return found
    node = root
    for token in fragment.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")  # JSON pointer escapes (RFC 6901)
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise SchemaGenerationError(f"{path}: $ref {ref!r} does not resolve")
    return node


def _find_anchor(node: Any, anchor: str) -> Any:
    if isinstance(node, dict):
        if node.get("$anchor") == anchor or node.get("$dynamicAnchor") == anchor:
            return node
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_anchor(child, anchor)
        if found is not None:
            return found
    return None

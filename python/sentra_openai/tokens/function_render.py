"""Tool and function definitions rendered as the TypeScript namespace the model reads in its prompt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["function_definitions", "render_functions"]


def _js_literal(value: Any) -> str:
    """How a JSON value prints inside the TypeScript rendering (JavaScript's String(value))."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _type_of(prop: Mapping[str, Any], indent: int, dialect: str) -> str:
    any_of = prop.get("anyOf", prop.get("oneOf"))
    if isinstance(any_of, list):
        return " | ".join(_type_of(option, indent, dialect) for option in any_of if isinstance(option, Mapping))
    kind = prop.get("type")
    enum = prop.get("enum")
    if isinstance(kind, list):  # e.g. ["string", "null"]
        return " | ".join(_type_of({**prop, "type": item}, indent, dialect) for item in kind)
    if kind == "string":
        return " | ".join(f'"{_js_literal(v)}"' for v in enum) if isinstance(enum, list) else "string"
    if kind in ("number", "integer"):
        return " | ".join(_js_literal(v) for v in enum) if isinstance(enum, list) else "number"
    if kind in ("boolean", "null"):
        return kind
    if kind == "object":
        return "{\n" + _object_body(prop, indent + 2, dialect) + "\n}"
    if kind == "array":
        items = prop.get("items")
        return f"{_type_of(items, indent, dialect)}[]" if isinstance(items, Mapping) else "any[]"
    if isinstance(enum, list):  # an enum without a type
        return " | ".join(f'"{v}"' if isinstance(v, str) else _js_literal(v) for v in enum)
    return "any"


def _comment(text: str, dialect: str) -> str:
    if dialect == "harmony":  # harmony comments every line of a multi-line description
        return "\n".join(f"// {line}" for line in str(text).split("\n"))
    return f"// {text}"


def _object_body(schema: Mapping[str, Any], indent: int, dialect: str) -> str:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return ""
    required = schema.get("required")
    required = set(required) if isinstance(required, list) else set()
    entries: list[str] = []
    for key, prop in properties.items():
        if not isinstance(prop, Mapping):
            prop = {}
        description = prop.get("description")
        if description and indent < 2:  # hmarr: nested descriptions are not shown
            entries.append(_comment(description, dialect))
        line = f"{key}{'' if key in required else '?'}: {_type_of(prop, indent, dialect)},"
        if dialect == "harmony" and "default" in prop:
            line += f" // default: {_js_literal(prop['default'])}"
        entries.append(line)
    # The indent prefixes each entry (not each physical line of a multi-line nested type), as hmarr does.
    return "\n".join(" " * indent + entry for entry in entries)


def render_functions(functions: Sequence[Mapping[str, Any]], dialect: str) -> str:
    """Function definitions as the TypeScript namespace OpenAI puts in the prompt.

    `dialect` "hmarr": exactly the text hmarr/openai-chat-tokens reproduces counts with (cookbook models);
    "harmony": the harmony format's "# Tools" section (openai/harmony docs/format.md), used for reasoning models.
    """
    lines: list[str] = ["# Tools", "", "## functions", ""] if dialect == "harmony" else []
    lines += ["namespace functions {", ""]
    for function in functions:
        name = function.get("name", "")
        description = function.get("description")
        if description:
            lines.append(_comment(description, dialect))
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
        if isinstance(properties, Mapping) and properties:
            lines.append(f"type {name} = (_: {{")
            lines.append(_object_body(parameters, 0, dialect))
            lines.append("}) => any;")
        else:
            lines.append(f"type {name} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def function_definitions(
    tools: Sequence[Mapping[str, Any]] | None, functions: Sequence[Mapping[str, Any]] | None
) -> list[Mapping[str, Any]]:
    """The definitions a request puts in the prompt: legacy `functions`, then each function (or custom) tool."""
    definitions: list[Mapping[str, Any]] = list(functions or ())
    for tool in tools or ():
        kind = tool.get("type")
        if kind == "function" and isinstance(tool.get("function"), Mapping):
            definitions.append(tool["function"])
        elif kind == "custom" and isinstance(tool.get("custom"), Mapping):
            # gpt-5 free-form tools: no published rendering; counted as a function without parameters
            custom = tool["custom"]
            definitions.append({"name": custom.get("name", ""), "description": custom.get("description")})
    return definitions

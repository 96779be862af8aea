"""Built-in tools (web_search, file_search, code_interpreter, image_generation, mcp): which one the simulated model
uses, and the output items of their real shapes (the spec's WebSearchToolCall, FileSearchToolCall,
CodeInterpreterToolCall, ImageGenToolCall, MCPListTools / MCPToolCall / MCPApprovalRequest), followed by a message
that cites what the tool found. Nothing leaves the machine: searches, files, code runs and MCP servers are invented,
deterministically from the content RNG; the image is a real PNG (content/png.py).
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from ...content import textgen
from ...content.lexicon import lexicon
from ...content.png import picture_png
from ...content.textgen import lowercase_words
from . import counting

# Words that make the simulated model reach for a tool (the prompt's words, lower-case).
_TRIGGERS = {
    "web_search": {"search", "latest", "news", "today", "current", "web", "find", "look"},
    "file_search": {"file", "files", "document", "documents", "docs", "knowledge"},
    "code_interpreter": {"calculate", "compute", "code", "python", "plot", "run", "math", "sum"},
    "image_generation": {"image", "draw", "picture", "generate", "illustration", "photo", "logo"},
    "mcp": set(),
}
_SEARCH_DOMAINS = ("en.wikipedia.org", "www.reuters.com", "www.bbc.com", "apnews.com", "www.nature.com")


@dataclass
class BuiltinUse:
    """What a built-in tool did: its output items (ids filled in later) and the text the answer cites."""

    kind: str  # the tool family: web_search, file_search, code_interpreter, image_generation, mcp
    items: list[dict[str, Any]]
    citations: list[dict[str, Any]] = field(default_factory=list)  # annotation bodies without indices
    finding: str = ""  # a sentence the answer builds on
    ends_turn: bool = False  # an MCP approval request: the turn stops there


def family(tool_type: str) -> str:
    if tool_type.startswith("web_search"):
        return "web_search"
    return tool_type


def choose(builtins: list[dict[str, Any]], tool_choice: Any, prompt: str, answering_tool_result: bool) -> dict[str, Any] | None:
    """The built-in tool the model calls this turn, if any."""
    if not builtins or tool_choice == "none" or answering_tool_result:
        return None
    if isinstance(tool_choice, dict):
        wanted = tool_choice.get("type")
        if wanted == "mcp":
            return next((t for t in builtins if t["type"] == "mcp" and t.get("server_label") == tool_choice.get("server_label")), None)
        if isinstance(wanted, str) and wanted not in ("function", "allowed_tools"):
            return next((t for t in builtins if family(t["type"]) == family(wanted)), None)
        return None
    words = set(lowercase_words(prompt))
    for tool in builtins:
        kind = family(tool["type"])
        if words & _TRIGGERS[kind] or (kind == "mcp" and str(tool.get("server_label", "")).lower() in words):
            return tool
    if tool_choice == "required":
        return builtins[0]
    return None


def use(tool: dict[str, Any], prompt: str, rng: random.Random, encoding, include: list[str]) -> BuiltinUse:
    kind = family(tool["type"])
    return _MAKERS[kind](tool, prompt, rng, encoding, include)


def _web_search(tool, prompt, rng, encoding, include) -> BuiltinUse:
    query = _query(prompt)
    sources = []
    for _ in range(rng.randint(2, 3)):
        domain = rng.choice(_SEARCH_DOMAINS)
        slug = "-".join(lowercase_words(textgen.generate_text(rng, 6, encoding, prompt))[:5]) or "article"
        sources.append({"type": "url", "url": f"https://{domain}/{slug}"})
    action: dict[str, Any] = {"type": "search", "query": query}
    if "web_search_call.action.sources" in include:
        action["sources"] = sources
    item = {"type": "web_search_call", "status": "completed", "action": action}
    citations = [{"type": "url_citation", "url": s["url"] + "?utm_source=openai",
                  "title": _title(rng, encoding, prompt)} for s in sources[:2]]
    return BuiltinUse("web_search", [item], citations, f"Recent reporting on {query} says")


def _file_search(tool, prompt, rng, encoding, include) -> BuiltinUse:
    stores = tool.get("vector_store_ids") or ["vs_default"]
    query = _query(prompt)
    files = [(f"file-{_alnum(rng, 22)}", f"{lowercase_words(textgen.generate_text(rng, 4, encoding, prompt))[0] if prompt else 'notes'}.pdf")
             for _ in range(rng.randint(1, 2))]
    results = None
    if "file_search_call.results" in include:
        results = [{"attributes": {}, "file_id": fid, "filename": name, "score": round(rng.uniform(0.5, 0.99), 4),
                    "text": textgen.generate_text(rng, 60, encoding, prompt), "vector_store_id": stores[0]}
                   for fid, name in files]
    item = {"type": "file_search_call", "status": "completed", "queries": [query], "results": results}
    citations = [{"type": "file_citation", "file_id": fid, "filename": name} for fid, name in files]
    return BuiltinUse("file_search", [item], citations, "According to the documents,")


def _code_interpreter(tool, prompt, rng, encoding, include) -> BuiltinUse:
    a, b = rng.randint(2, 999), rng.randint(2, 999)
    code = f"a = {a}\nb = {b}\nresult = a * b\nprint(result)"
    container = tool.get("container")
    container_id = container if isinstance(container, str) else f"cntr_{rng.getrandbits(128):032x}"
    outputs = [{"type": "logs", "logs": f"{a * b}\n"}] if "code_interpreter_call.outputs" in include else None
    item = {"type": "code_interpreter_call", "status": "completed", "code": code, "container_id": container_id,
            "outputs": outputs}
    return BuiltinUse("code_interpreter", [item], [], f"Running the calculation gives {a * b}, and")


def _image_generation(tool, prompt, rng, encoding, include) -> BuiltinUse:
    size = tool.get("size") if tool.get("size") not in (None, "auto") else "1024x1024"
    try:
        width, height = (int(v) for v in str(size).split("x"))
    except ValueError:
        width, height = 1024, 1024
    fmt = tool.get("output_format") or "png"
    png = picture_png(width, height, rng.getrandbits(32))
    item = {"type": "image_generation_call", "status": "completed", "background": tool.get("background") or "opaque",
            "output_format": fmt, "quality": tool.get("quality") or "medium", "result": base64.b64encode(png).decode(),
            "revised_prompt": prompt.strip()[:400] or "An image.", "size": f"{width}x{height}"}
    return BuiltinUse("image_generation", [item], [], "Here is the image I generated:")


def _mcp(tool, prompt, rng, encoding, include) -> BuiltinUse:
    label = tool.get("server_label") or "server"
    allowed = tool.get("allowed_tools")
    names = allowed if isinstance(allowed, list) and allowed else (allowed or {}).get("tool_names") if isinstance(allowed, dict) else None
    names = list(names or ["search", "fetch"])
    schema = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"],
              "additionalProperties": False}
    listing = {"type": "mcp_list_tools", "server_label": label,
               "tools": [{"annotations": None, "description": f"{name.replace('_', ' ').capitalize()} on {label}.",
                          "input_schema": schema, "name": name} for name in names]}
    arguments = orjson.dumps({"query": _query(prompt)}).decode()
    if tool.get("require_approval", "always") != "never":
        request = {"type": "mcp_approval_request", "arguments": arguments, "name": names[0], "server_label": label}
        return BuiltinUse("mcp", [listing, request], ends_turn=True)
    output = textgen.generate_text(rng, 40, encoding, prompt)
    call = {"type": "mcp_call", "status": "completed", "approval_request_id": None, "arguments": arguments,
            "error": None, "name": names[0], "output": output, "server_label": label}
    return BuiltinUse("mcp", [listing, call], [], f"The {label} server reports that")


def answer_approval(items: list[dict[str, Any]], prompt: str, rng: random.Random, encoding) -> BuiltinUse | None:
    """When the input ends with an mcp_approval_response: the approved call runs (an mcp_call naming the request),
    a refused one does not (the model answers without it). None when the input does not end so."""
    last = items[-1] if items else {}
    if last.get("type") != "mcp_approval_response":
        return None
    request = next((i for i in items if i.get("type") == "mcp_approval_request"
                    and i.get("id") == last.get("approval_request_id")), None)
    if request is None or not last.get("approve"):
        return BuiltinUse("mcp", [], [], "")
    call = {"type": "mcp_call", "status": "completed", "approval_request_id": request["id"],
            "arguments": request.get("arguments") or "{}", "error": None, "name": request.get("name") or "search",
            "output": textgen.generate_text(rng, 40, encoding, prompt), "server_label": request.get("server_label")}
    return BuiltinUse("mcp", [call], [], f"The {request.get('server_label')} server reports that")


_MAKERS = {"web_search": _web_search, "file_search": _file_search, "code_interpreter": _code_interpreter,
           "image_generation": _image_generation, "mcp": _mcp}


def cite(text: str, use: BuiltinUse) -> list[dict[str, Any]]:
    """Annotations for the answer: url citations span sentences of the text; file citations point at its end."""
    annotations = []
    sentences = [i for i, ch in enumerate(text) if ch == "."] or [len(text) - 1]
    for n, body in enumerate(use.citations):
        end = min(sentences[min(n, len(sentences) - 1)] + 1, len(text))
        if body["type"] == "url_citation":
            start = sentences[n - 1] + 2 if n and n - 1 < len(sentences) and sentences[n - 1] + 2 < end else 0
            annotations.append({"type": "url_citation", "end_index": end, "start_index": start, "title": body["title"],
                                "url": body["url"]})
        else:
            annotations.append({"type": "file_citation", "file_id": body["file_id"], "filename": body["filename"],
                                "index": end})
    return annotations


def seconds_per_call(kind: str) -> float:
    """How long the tool works before the answer starts, unscaled (config/responses.yaml builtin_tools)."""
    return float(counting.settings()["builtin_tools"][kind]["seconds_per_call"])


def id_prefix(item_type: str) -> str:
    if item_type.startswith("mcp"):
        return "mcp_"
    return {"web_search_call": "ws_", "file_search_call": "fs_", "code_interpreter_call": "ci_",
            "image_generation_call": "ig_"}[item_type]


def _query(prompt: str) -> str:
    words = [w for w in lowercase_words(prompt) if len(w) > 2][:8]
    return " ".join(words) or "general information"


def _title(rng: random.Random, encoding, prompt: str) -> str:
    words = lowercase_words(textgen.generate_text(rng, 8, encoding, prompt))[:6]
    return " ".join(w.capitalize() for w in words) or lexicon()["topics"][0]


def _alnum(rng: random.Random, n: int) -> str:
    from ...ids import base62

    return base62(rng, n)

"""`serve --record DIR --upstream URL`: a proxy to an OpenAI-compatible upstream that writes what it answers as
fixtures, so that `serve --replay DIR` (or `fixtures.paths: [DIR]`) answers the same conversations offline.

Every /v1/ request is forwarded as sent (the client's own API key goes to the upstream) and the upstream's answer
returned as is. A successful chat completion, completion or response becomes a fixture matched on the whole
conversation (content/conversation.py `conversation` + the tools offered); the same conversation recorded again
adds the next entry of its `replies`. Every exchange is also kept under DIR/exchanges/ as JSON, with API keys,
cookies and anything that looks like a key redacted.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import yaml

from ...config import Settings
from ..core import ARRIVAL_HEADER  # the front's note of when the request arrived: the server's, not the client's
from ..types import Outcome, Request

RECORDED_PRIORITY = 1000  # a recorded conversation beats the packaged fixtures
SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "openai-api-key", "cookie", "set-cookie",
                            "openai-organization", "openai-project", "x-sentra-control-token"})
# Hop-by-hop headers and the ones the server sets itself.
DROPPED_RESPONSE_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length",
                                      "content-encoding", "date", "server", "alt-svc", "set-cookie"})
_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9_\-.]{8,})")
REDACTED = "[REDACTED]"
RECORDED_ENDPOINTS = {"/v1/chat/completions": "chat", "/v1/completions": "completions", "/v1/responses": "responses"}


def redact(value: Any) -> Any:
    """Keys and tokens anywhere in a JSON value (e.g. pasted into a prompt) become [REDACTED]."""
    if isinstance(value, str):
        return _KEY_PATTERN.sub(REDACTED, value)
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, dict):
        return {k: (REDACTED if k.lower() in ("api_key", "apikey", "password", "secret") else redact(v))
                for k, v in value.items()}
    return value


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k.lower() in SECRET_HEADERS else redact(v)) for k, v in headers.items()}


class Recorder:
    def __init__(self, settings: Settings) -> None:
        recording = settings.recording
        assert recording.dir and recording.upstream
        self.folder = Path(recording.dir)
        self.upstream = recording.upstream.rstrip("/")
        self.timeout = recording.timeout_seconds
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "exchanges").mkdir(exist_ok=True)
        self._lock = threading.Lock()  # one writer of a fixture file at a time in this process

    def handle(self, request: Request) -> Outcome:
        status, headers, body = self._forward(request)
        self._write_exchange(request, status, headers, body)
        kind = RECORDED_ENDPOINTS.get(request.path.rstrip("/"))
        if kind is not None and status == 200 and request.method == "POST":
            try:
                self._write_fixture(kind, orjson.loads(request.body), headers, body)
            except (orjson.JSONDecodeError, ValueError, KeyError, TypeError, IndexError):
                pass  # an answer we cannot read as a fixture is still proxied and kept under exchanges/
        return Outcome(status, {k: v for k, v in headers.items() if k not in DROPPED_RESPONSE_HEADERS}, body)

    # -- forwarding -----------------------------------------------------------------------------------------------

    def _forward(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        path = request.path.removeprefix("/v1")
        query = "&".join(f"{urllib.request.quote(k)}={urllib.request.quote(v)}" for k, v in request.query)
        url = self.upstream + path + (f"?{query}" if query else "")
        headers = {k: v for k, v in request.headers.items()
                   if k not in ("host", "content-length", "connection", "accept-encoding") and not k.startswith("x-sentra")}
        headers["accept-encoding"] = "identity"
        outgoing = urllib.request.Request(url, data=request.body or None, method=request.method, headers=headers)
        try:
            with urllib.request.urlopen(outgoing, timeout=self.timeout) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            message = f"The upstream {self.upstream} could not be reached: {getattr(exc, 'reason', exc)}"
            body = orjson.dumps({"error": {"message": message, "type": "server_error", "param": None,
                                           "code": "upstream_unavailable"}})
            return 502, {"content-type": "application/json"}, body

    # -- writing ----------------------------------------------------------------------------------------------------

    def _write_exchange(self, request: Request, status: int, headers: dict[str, str], body: bytes) -> None:
        def as_json(raw: bytes) -> Any:
            try:
                return redact(orjson.loads(raw)) if raw else None
            except orjson.JSONDecodeError:
                return redact(raw.decode("utf-8", "replace"))

        exchange = {
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "upstream": self.upstream,
            "request": {"method": request.method, "path": request.path, "query": list(request.query),
                        "headers": redact_headers({k: v for k, v in request.headers.items() if k != ARRIVAL_HEADER}),
                        "body": as_json(request.body)},
            "response": {"status": status, "headers": redact_headers(headers), "body": as_json(body)},
        }
        stamp = f"{time.time_ns()}-{request.path.strip('/').replace('/', '_')}"
        (self.folder / "exchanges" / f"{stamp}.json").write_bytes(orjson.dumps(exchange, option=orjson.OPT_INDENT_2))

    def _write_fixture(self, kind: str, body: dict[str, Any], headers: dict[str, str], raw: bytes) -> None:
        streamed = headers.get("content-type", "").startswith("text/event-stream")
        reply = _reply(kind, raw, streamed)
        if reply is None:
            return
        conversation, tools = _conversation(kind, body)
        match: dict[str, Any] = {"conversation": conversation}
        if tools:
            match["tools"] = tools
        key = hashlib.blake2b(orjson.dumps([kind, conversation, tools]), digest_size=8).hexdigest()
        path = self.folder / f"recorded-{kind}-{key}.yaml"
        with self._lock:
            if path.exists():
                entry = yaml.safe_load(path.read_text(encoding="utf-8"))["fixtures"][0]
                replies = entry.pop("replies", None) or [entry.pop("response")]
                entry["replies"] = [*replies, reply]
            else:
                entry = {"name": f"recorded-{kind}-{key}", "priority": RECORDED_PRIORITY, "match": redact(match),
                         "response": reply}
            header = (f"# Recorded by sentra-openai from {self.upstream} ({kind}); the i-th call of this conversation "
                      "gets the i-th reply.\n")
            text = yaml.safe_dump({"fixtures": [redact(entry)]}, sort_keys=False, allow_unicode=True, width=120)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(header + text, encoding="utf-8")
            temporary.replace(path)  # atomic: a server replaying the folder never reads half a file


def _tool_names(tools: Any) -> list[str]:
    names = []
    for tool in tools or ():
        if isinstance(tool, dict):
            name = (tool.get("function") or {}).get("name") if tool.get("type") == "function" and "function" in tool \
                else tool.get("name")
            if isinstance(name, str):
                names.append(name)
    return names


def _conversation(kind: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The conversation as the fixture matcher will see it at replay time."""
    if kind == "chat":
        messages = body["messages"]
    elif kind == "completions":
        prompt = body.get("prompt")
        messages = [{"role": "user", "content": prompt if isinstance(prompt, str) else json.dumps(prompt)}]
    else:
        from ..endpoints.responses.counting import chat_messages

        raw_input = body.get("input")
        items = [{"type": "message", "role": "user", "content": raw_input}] if isinstance(raw_input, str) else [
            {"type": "message", **item} if "type" not in item and "role" in item else item for item in raw_input or ()]
        messages = chat_messages(body.get("instructions"), items, developer=False)
    return [_plain_message(m) for m in messages], _tool_names(body.get("tools") or body.get("functions"))


def _plain_message(message: dict[str, Any]) -> dict[str, Any]:
    from ..content.conversation import message_text

    plain: dict[str, Any] = {"role": message.get("role"), "content": message_text(message.get("content"))}
    calls = [{"id": c.get("id"), "function": {"name": (c.get("function") or {}).get("name")}}
             for c in message.get("tool_calls") or () if isinstance(c, dict)]
    if calls:
        plain["tool_calls"] = calls
    if message.get("tool_call_id"):
        plain["tool_call_id"] = message["tool_call_id"]
    if message.get("role") == "function" and message.get("name"):
        plain["name"] = message["name"]
    return plain


def _reply(kind: str, raw: bytes, streamed: bool) -> dict[str, Any] | None:
    """The fixture response of an upstream answer: its text, or its first tool call."""
    if kind == "chat":
        content, call = _chat_stream(raw) if streamed else _chat_message(orjson.loads(raw))
    elif kind == "completions":
        if streamed:
            content = "".join(c["choices"][0].get("text") or "" for c in _sse_json(raw) if c.get("choices"))
        else:
            content = orjson.loads(raw)["choices"][0]["text"]
        call = None
    else:
        response = next((e["response"] for e in _sse_json(raw) if e.get("type") == "response.completed"), None) \
            if streamed else orjson.loads(raw)
        if response is None:
            return None
        content, call = _response_output(response)
    if call is not None:
        return {"tool_call": call}
    return {"content": content} if content is not None else None


def _chat_message(payload: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    message = payload["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    if calls:
        function = calls[0]["function"]
        return None, {"name": function["name"], "arguments": _arguments(function.get("arguments"))}
    return message.get("content") or "", None


def _chat_stream(raw: bytes) -> tuple[str | None, dict[str, Any] | None]:
    text, calls = [], {}
    for chunk in _sse_json(raw):
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text.append(delta["content"])
            for call in delta.get("tool_calls") or ():
                entry = calls.setdefault(call.get("index", 0), {"name": "", "arguments": ""})
                function = call.get("function") or {}
                entry["name"] += function.get("name") or ""
                entry["arguments"] += function.get("arguments") or ""
    if calls:
        first = calls[min(calls)]
        return None, {"name": first["name"], "arguments": _arguments(first["arguments"])}
    return "".join(text), None


def _response_output(response: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    text = []
    for item in response.get("output") or ():
        if item.get("type") == "function_call":
            return None, {"name": item["name"], "arguments": _arguments(item.get("arguments"))}
        if item.get("type") == "message":
            text.extend(part.get("text") or "" for part in item.get("content") or () if part.get("type") == "output_text")
    return "".join(text), None


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _sse_json(raw: bytes) -> list[dict[str, Any]]:
    events = []
    for line in raw.decode("utf-8", "replace").splitlines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if data and data != "[DONE]":
                try:
                    events.append(orjson.loads(data))
                except orjson.JSONDecodeError:
                    continue
    return events

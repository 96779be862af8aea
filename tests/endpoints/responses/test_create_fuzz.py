"""Bad input never crashes /v1/responses: random bodies built from the real field names, item shapes and JSON
values get a 200 or OpenAI's error envelope, never a 500 (in-process engine, no server)."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, Request, build_engine
from sentra_openai.engine.endpoints.responses.request import ITEM_TYPES, KNOWN_FIELDS
from sentra_openai.state import MemoryStore

_ENGINE = build_engine(load_settings(mode="fast", environ={}), clock=ManualClock(), state=MemoryStore())

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(-3, 3, allow_nan=False),
                    st.sampled_from(["", "auto", "none", "required", "json", "gpt-4o-mini", "resp_x", "text",
                                     "json_schema", "function", "web_search", "reasoning.encrypted_content"]),
                    st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.sampled_from(
                                                            ["type", "name", "role", "content", "text", "format",
                                                             "schema", "parameters", "call_id", "arguments", "output",
                                                             "id", "effort", "summary", "strict", "tools", "mode",
                                                             "image_url", "file_data", "encrypted_content"]),
                                                            inner, max_size=5)), max_leaves=12)
items = st.fixed_dictionaries({"type": st.sampled_from([*ITEM_TYPES, "bogus"])},
                              optional={"role": st.sampled_from(["user", "assistant", "developer", "x"]),
                                        "content": values, "call_id": values, "name": values, "arguments": values,
                                        "output": values, "id": values, "summary": values,
                                        "encrypted_content": values})
bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(["gpt-4o-mini", "gpt-5-mini", "o3", "nope"])},
    optional={"input": st.one_of(st.text(max_size=20), st.lists(items, max_size=4), values),
              **{name: values for name in sorted(KNOWN_FIELDS - {"model", "input", "background", "store"})}},
)


def _send(body: dict) -> tuple[int, dict]:
    outcome = _ENGINE.handle(Request("POST", "/v1/responses", {"authorization": "Bearer sk-fuzz"}, orjson.dumps(body)))
    if outcome.stream is not None:
        return outcome.status, {}
    return outcome.status, orjson.loads(outcome.body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies)
def test_random_bodies_get_a_response_or_an_openai_error(body):
    status, answer = _send(body)
    assert status != 500, answer
    if status >= 400:
        assert set(answer["error"]) == {"message", "type", "param", "code"}

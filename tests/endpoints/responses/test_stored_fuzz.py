"""Bad input on the stored-response and conversation routes never gives a 500: random paths, query strings and
bodies get a 2xx or OpenAI's error envelope with a 4xx."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sentra_openai.config import load_settings
from sentra_openai.engine import Request, build_engine
from sentra_openai.state import MemoryStore

ENGINE = build_engine(load_settings(mode="fast"), state=MemoryStore())
CONVERSATION = orjson.loads(ENGINE.handle(Request("POST", "/v1/conversations", {}, b"{}")).body)["id"]
RESPONSE = orjson.loads(ENGINE.handle(Request("POST", "/v1/responses", {}, orjson.dumps(
    {"model": "gpt-4o-mini", "input": "hi", "background": True}))).body)["id"]

SEGMENT = st.one_of(st.sampled_from([CONVERSATION, RESPONSE, "resp_x", "conv_x", "msg_x", "", "%00", "..", "items"]),
                    st.text(min_size=0, max_size=12))
PATHS = st.one_of(
    st.builds(lambda a: f"/v1/responses/{a}", SEGMENT),
    st.builds(lambda a, b: f"/v1/responses/{a}/{b}", SEGMENT, st.sampled_from(["cancel", "input_items", "x"])),
    st.just("/v1/responses/compact"),
    st.just("/v1/conversations"),
    st.builds(lambda a: f"/v1/conversations/{a}", SEGMENT),
    st.builds(lambda a: f"/v1/conversations/{a}/items", SEGMENT),
    st.builds(lambda a, b: f"/v1/conversations/{a}/items/{b}", SEGMENT, SEGMENT),
)
QUERY_NAMES = st.sampled_from(["limit", "order", "after", "include", "include[]", "stream", "starting_after",
                               "include_obfuscation", "x"])
QUERY = st.lists(st.tuples(QUERY_NAMES, st.one_of(st.text(max_size=8), st.sampled_from(
    ["0", "1", "101", "-1", "asc", "desc", "true", "false", "reasoning.encrypted_content", "1e9"]))), max_size=4)
JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**53, 2**53), st.floats(allow_nan=False), st.text(max_size=10)),
                    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=4)), max_leaves=12)
BODIES = st.one_of(
    st.binary(max_size=20),
    JSON.map(orjson.dumps),
    st.fixed_dictionaries({}, optional={"items": JSON, "metadata": JSON, "model": st.sampled_from(["gpt-4o-mini", 3]),
                                        "input": JSON, "previous_response_id": JSON, "instructions": JSON}
                          ).map(orjson.dumps),
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["GET", "POST", "DELETE"]), path=PATHS, query=QUERY, body=BODIES)
def test_never_a_server_error(method, path, query, body) -> None:
    outcome = ENGINE.handle(Request(method, path, {"content-type": "application/json"}, body, tuple(query)))
    assert outcome.status < 500, outcome.body
    if outcome.status >= 400:
        error = orjson.loads(outcome.body)["error"]
        assert set(error) == {"message", "type", "param", "code"}

"""A Hypothesis state machine of create / retrieve / delete / input_items / chain on an in-process engine, against a
plain model of what is stored: a `store: false` response is never retrievable, a deleted one is gone (404, and a 400
previous_response_not_found when chained to), and a chain's history is every live turn's input and output."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, rule
from sentra_openai.config import load_settings
from sentra_openai.engine import Call, Request, build_engine
from sentra_openai.engine.endpoints.responses import stored
from sentra_openai.state import MemoryStore

WORDS = st.sampled_from(["alpha", "beta", "gamma", "delta", "omega"])


class StoredResponses(RuleBasedStateMachine):
    ids = Bundle("ids")

    @initialize()
    def start(self) -> None:
        settings_ = load_settings(mode="fast")
        self.engine = build_engine(settings_, state=MemoryStore())
        self.live: dict[str, dict] = {}  # id -> {"body", "input", "previous"}
        self.gone: set[str] = set()  # deleted, or never stored (store: false)

    def _call(self, method: str, path: str, body=None):
        outcome = self.engine.handle(Request(method, path, {"content-type": "application/json"},
                                             orjson.dumps(body) if body is not None else b""))
        return outcome.status, orjson.loads(outcome.body)

    @rule(target=ids, text=WORDS, store=st.booleans())
    def create(self, text, store):
        status, body = self._call("POST", "/v1/responses", {"model": "gpt-4o-mini", "input": text, "store": store})
        assert status == 200
        if store:
            self.live[body["id"]] = {"body": body, "input": text, "previous": None}
        else:
            self.gone.add(body["id"])
        return body["id"]

    @rule(target=ids, previous=ids, text=WORDS)
    def chain(self, previous, text):
        status, body = self._call("POST", "/v1/responses", {"model": "gpt-4o-mini", "input": text,
                                                           "previous_response_id": previous})
        if previous not in self.live:
            assert status == 400 and body["error"]["code"] == "previous_response_not_found"
            return previous
        assert status == 200 and body["previous_response_id"] == previous
        self.live[body["id"]] = {"body": body, "input": text, "previous": previous}
        return body["id"]

    @rule(response_id=ids)
    def retrieve(self, response_id):
        status, body = self._call("GET", f"/v1/responses/{response_id}")
        if response_id in self.live:
            assert status == 200 and body == self.live[response_id]["body"]
        else:
            assert status == 404 and body["error"]["message"] == f"Response with id '{response_id}' not found."

    @rule(response_id=ids)
    def delete(self, response_id):
        status, body = self._call("DELETE", f"/v1/responses/{response_id}")
        if response_id in self.live:
            assert status == 200 and body == {"id": response_id, "object": "response", "deleted": True}
            del self.live[response_id]
            self.gone.add(response_id)
        else:
            assert status == 404

    @rule(response_id=ids)
    def input_items(self, response_id):
        status, body = self._call("GET", f"/v1/responses/{response_id}/input_items")
        if response_id in self.live:
            assert status == 200
            assert [item["content"][0]["text"] for item in body["data"]] == [self.live[response_id]["input"]]
        else:
            assert status == 404

    @rule(response_id=ids)
    def history(self, response_id):
        if response_id not in self.live:
            return
        turns = []
        current = response_id
        while current in self.live:  # a deleted earlier turn cuts the chain there
            turns.append(self.live[current])
            current = self.live[current]["previous"]
        expected = []
        for turn in reversed(turns):
            expected += [turn["input"], turn["body"]["output"][0]["content"][0]["text"]]
        call = Call(self.engine.services, Request("GET", "/", {}), "test", 0)
        items = stored.chain_items(call, response_id)
        assert [item["content"][0]["text"] for item in items] == expected


TestStoredResponses = StoredResponses.TestCase
TestStoredResponses.settings = settings(max_examples=30, stateful_step_count=25, deadline=None,
                                        suppress_health_check=list(HealthCheck))

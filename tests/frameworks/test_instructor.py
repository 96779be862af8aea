"""instructor on the official SDK against the server: Mode.TOOLS, Mode.JSON and Mode.MD_JSON extract the user's
Pydantic model with the values the prompt states, iterable extraction returns one object per entity named, partial
streaming builds the object up, and a retry of the SDK client recovers from an injected 429.

instructor pins openai to an older major than the one this project tests with, so it is not in the `test` extra:
these tests run where it is installed (e.g. a virtual environment of its own) and skip elsewhere."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from pydantic import BaseModel
from sentra_control import API_KEY, fail_next, statuses

instructor = pytest.importorskip("instructor")
import openai

pytestmark = pytest.mark.server

MODES = [pytest.param(instructor.Mode.TOOLS, id="tools"), pytest.param(instructor.Mode.JSON, id="json"),
         pytest.param(instructor.Mode.MD_JSON, id="md_json")]


class User(BaseModel):
    name: str
    age: int


def _client(server, mode, max_retries: int = 0):
    return instructor.from_openai(openai.OpenAI(base_url=server.api_url, api_key=API_KEY, max_retries=max_retries),
                                  mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_extracts_the_model_with_the_prompts_values(framework_server, mode):
    user, completion = _client(framework_server, mode).chat.completions.create_with_completion(
        model="gpt-4o-mini", response_model=User, max_retries=0,
        messages=[{"role": "user", "content": "Jason Smith is 25 years old"}])
    assert isinstance(user, User) and user.model_dump() == {"name": "Jason Smith", "age": 25}
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0


@pytest.mark.parametrize("mode", MODES)
def test_iterable_extraction_returns_one_object_per_person(framework_server, mode):
    users = _client(framework_server, mode).chat.completions.create(
        model="gpt-4o-mini", response_model=Iterable[User], max_retries=0,
        messages=[{"role": "user", "content": "Jason Smith is 25 years old and Sarah Jones is 30"}])
    assert [u.model_dump() for u in users] == [{"name": "Jason Smith", "age": 25}, {"name": "Sarah Jones", "age": 30}]


@pytest.mark.parametrize("mode", MODES)
def test_partial_streaming_builds_the_object_up(framework_server, mode):
    partials = list(_client(framework_server, mode).chat.completions.create_partial(
        model="gpt-4o-mini", response_model=User, max_retries=0,
        messages=[{"role": "user", "content": "Jason Smith is 25 years old"}]))
    assert len(partials) > 2
    assert partials[-1].name == "Jason Smith" and partials[-1].age == 25


def test_sdk_retries_recover_from_a_rate_limit(framework_server):
    fail_next(framework_server, 429)
    user = _client(framework_server, instructor.Mode.TOOLS, max_retries=2).chat.completions.create(
        model="gpt-4o-mini", response_model=User, max_retries=0,
        messages=[{"role": "user", "content": "Jason Smith is 25 years old"}])
    assert user.name == "Jason Smith"
    assert statuses(framework_server) == [("/v1/chat/completions", 429), ("/v1/chat/completions", 200)]

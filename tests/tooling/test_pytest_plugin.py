"""The pytest plugin (sentra_openai.pytest_plugin), run the way its users run it: test files written only against its
fixtures, in a pytester project of their own, each session starting a real server."""

from __future__ import annotations

import importlib.metadata

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.server


def _plugin_args() -> list[str]:
    """`-p` when the installed metadata does not register the entry point yet (an editable install made before it
    was added); with it, the entry point loads the plugin by itself."""
    registered = any(ep.name == "sentra_openai" for ep in importlib.metadata.entry_points(group="pytest11"))
    return [] if registered else ["-p", "sentra_openai.pytest_plugin"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*_plugin_args(), "-p", "no:cacheprovider", *args, timeout=240)


USES_FIXTURES = '''
import asyncio
import openai
import pytest

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say this is a test"}]}


def test_client_and_request_log(sentra):
    assert sentra.base_url.endswith("/v1")
    answer = sentra.client().chat.completions.create(**CHAT)
    assert answer.choices[0].message.content == "This is a test."
    (logged,) = sentra.requests()
    assert logged["path"] == "/v1/chat/completions" and logged["body"] == CHAT
    assert "authorization" not in logged["headers"]


def test_each_test_starts_reset(sentra):
    assert sentra.requests() == []


def test_fail_next(sentra):
    sentra.fail_next(503, count=2, model="gpt-4o-mini")
    client = sentra.client(max_retries=0)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(**CHAT)
    assert client.chat.completions.create(**CHAT).choices


def test_the_sdk_retries_through_one_429(sentra):
    sentra.fail_next(429)
    assert sentra.client(max_retries=2).chat.completions.create(**CHAT).choices
    assert [r["status"] for r in sentra.requests()] == [429, 200]


def test_async_client(sentra):
    async def main():
        async with sentra.async_client() as client:
            return await client.embeddings.create(model="text-embedding-3-small", input="x")
    assert len(asyncio.run(main()).data[0].embedding) == 1536


def test_configure(sentra):
    sentra.configure(error_injection={"enable": True, "base_error_rate": 1.0, "weights": {"502": 1}})
    with pytest.raises(openai.APIStatusError) as caught:
        sentra.client(max_retries=0).chat.completions.create(**CHAT)
    assert caught.value.status_code == 502


def test_configure_does_not_leak_into_the_next_test(sentra):
    assert sentra.client(max_retries=0).chat.completions.create(**CHAT).choices


@pytest.mark.sentra(config={"rate_limiting": {"enable": True, "overrides": {"gpt-4o-mini": {"rpm": 1, "tpm": 99999}}}})
def test_marker_config(sentra):
    client = sentra.client(max_retries=0)
    client.chat.completions.create(**CHAT)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**CHAT)


def test_session_server_is_shared(sentra_server, sentra):
    assert sentra_server is sentra
    sentra_server.reset()
    assert sentra_server.requests() == []
'''


def test_a_test_file_using_only_the_fixtures_passes(pytester: pytest.Pytester):
    pytester.makepyfile(test_agent=USES_FIXTURES)
    result = run(pytester, "-q")
    result.assert_outcomes(passed=9)


def test_a_failing_user_test_fails(pytester: pytest.Pytester):
    pytester.makepyfile(test_wrong='''
def test_expects_no_requests(sentra):
    sentra.client().models.list()
    assert sentra.requests() == []
''')
    result = run(pytester, "-q")
    result.assert_outcomes(failed=1)


def test_options_choose_the_mode_and_the_config_file(pytester: pytest.Pytester):
    pytester.makefile(".yaml", fixtures='fixtures:\n  - name: canned\n    priority: 1000\n'
                                        '    response: {content: "Canned answer."}\n')
    pytester.makefile(".yaml", sentra='fixtures: {paths: [fixtures.yaml]}\n')
    pytester.makepyfile(test_options='''
import json, urllib.request

def test_mode_and_config(sentra):
    with urllib.request.urlopen(sentra.base_url.removesuffix("/v1") + "/health") as response:
        assert json.loads(response.read())["mode"] == "debug"
    answer = sentra.client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert answer.choices[0].message.content == "Canned answer."
''')
    result = run(pytester, "-q", "--sentra-mode", "debug", "--sentra-config", "sentra.yaml")
    result.assert_outcomes(passed=1)


def test_the_marker_is_registered(pytester: pytest.Pytester):
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.sentra(config={...})*"])
    help_text = run(pytester, "--help")
    help_text.stdout.fnmatch_lines(["*--sentra-mode*", "*--sentra-config*"])

"""Schemas nested hundreds deep (issue 9, defect 7) get OpenAI's 400 invalid_json_schema, never a 500."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.server

OBJECT_OPEN = '{"type": "object", "additionalProperties": false, "required": ["a"], "properties": {"a": '


def nested_schema(levels: int) -> str:
    """The JSON text of `levels` nested objects (built as text: json.dumps itself recurses and gives up near 1000)."""
    return OBJECT_OPEN * levels + '{"type": "string"}' + "}}" * levels


def response_format_body(levels: int, strict: bool) -> str:
    return ('{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "response_format": '
            '{"type": "json_schema", "json_schema": {"name": "deep", "strict": %s, "schema": %s}}}'
            % ("true" if strict else "false", nested_schema(levels)))


def tool_body(levels: int, strict: bool) -> str:
    return ('{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "required", '
            '"tools": [{"type": "function", "function": {"name": "deep", "strict": %s, "parameters": %s}}]}'
            % ("true" if strict else "false", nested_schema(levels)))


def post(server, body: str) -> httpx.Response:
    return httpx.post(f"{server.api_url}/chat/completions", content=body.encode(),
                      headers={"content-type": "application/json"}, timeout=30)


@pytest.mark.parametrize("levels", [11, 500])
@pytest.mark.parametrize("build, param", [(response_format_body, "response_format"), (tool_body, "tools")])
def test_a_strict_schema_deeper_than_ten_levels_is_refused(fast_server, build, param, levels):
    response = post(fast_server, build(levels, True))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json_schema" and error["param"] == param
    assert "10 levels of nesting" in error["message"]


@pytest.mark.parametrize("build", [response_format_body, tool_body])
def test_ten_strict_levels_are_served(fast_server, build):
    assert post(fast_server, build(10, True)).status_code == 200


@pytest.mark.parametrize("levels", [101, 500])
@pytest.mark.parametrize("build, param", [(response_format_body, "response_format"), (tool_body, "tools")])
def test_a_non_strict_schema_nested_hundreds_deep_gets_a_400(fast_server, build, param, levels):
    response = post(fast_server, build(levels, False))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json_schema"
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("build", [response_format_body, tool_body])
def test_a_body_nested_past_the_json_parser_limit_is_a_400(fast_server, build, strict):
    # 1000 schema levels are 2000 levels of JSON: past the parser's limit, so the body is not JSON OpenAI can read.
    response = post(fast_server, build(1000, strict))
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("build", [response_format_body, tool_body])
def test_a_non_strict_schema_of_sixty_levels_is_served(fast_server, build):
    assert post(fast_server, build(60, False)).status_code == 200

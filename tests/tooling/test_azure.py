"""Azure OpenAI routes (/openai/deployments/..., /openai/responses, /openai/v1/...) through openai.AzureOpenAI and raw
HTTP: deployments mapped to models, Azure's headers, content-filter annotations and gateway errors
(shared/reference/responses-api.md §4)."""

from __future__ import annotations

import re
import uuid

import httpx
import openai
import pytest

pytestmark = pytest.mark.server
API_VERSION = "2024-10-21"
HI = [{"role": "user", "content": "Say this is a test"}]
KEY = "azure-key-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import start_server

    config = {"metrics": {"enable": False}, "auth": {"require_api_key": True, "api_keys": [KEY]},
              "azure": {"deployments": {"my-chat": "gpt-4o-mini", "my-embedder": "text-embedding-3-small"},
                        "region": "Sweden Central"}}
    running = start_server(tmp_path_factory.mktemp("azure"), config)
    yield running
    running.stop()


@pytest.fixture
def azure(server):
    httpx.post(f"{server.base_url}/sentra/v1/reset")
    httpx.delete(f"{server.base_url}/sentra/v1/config")
    return openai.AzureOpenAI(azure_endpoint=server.base_url, api_version=API_VERSION, api_key=KEY, max_retries=0)


def test_chat_through_a_mapped_deployment(azure, server):
    raw = azure.chat.completions.with_raw_response.create(model="my-chat", messages=HI)
    completion = raw.parse()
    assert completion.choices[0].message.content == "This is a test."
    assert completion.model.startswith("gpt-4o-mini-")  # the dated model behind the deployment
    body = raw.http_response.json()
    assert body["prompt_filter_results"][0]["prompt_index"] == 0
    assert body["prompt_filter_results"][0]["content_filter_results"]["jailbreak"] == {"filtered": False,
                                                                                       "detected": False}
    assert body["choices"][0]["content_filter_results"]["hate"] == {"filtered": False, "severity": "safe"}
    headers = raw.headers
    assert uuid.UUID(headers["x-request-id"]) and not headers["x-request-id"].startswith("req_")
    assert uuid.UUID(headers["apim-request-id"])
    assert headers["x-ms-region"] == "Sweden Central"
    assert headers["x-ms-deployment-name"] == "my-chat"
    for absent in ("openai-organization", "openai-version", "openai-processing-ms", "x-ratelimit-reset-requests"):
        assert absent not in headers
    logged = httpx.get(f"{server.base_url}/sentra/v1/requests").json()["data"]
    assert logged[-1]["path"] == "/openai/deployments/my-chat/chat/completions"
    assert "api-key" not in logged[-1]["headers"]


def test_a_deployment_named_like_a_catalog_model(azure):
    assert azure.chat.completions.create(model="gpt-4o", messages=HI).model.startswith("gpt-4o-")


def test_embeddings(azure):
    answer = azure.embeddings.create(model="my-embedder", input=["a", "b"])
    assert [len(d.embedding) for d in answer.data] == [1536, 1536]


def test_streaming_starts_with_the_prompt_filter_chunk(azure):
    chunks = list(azure.chat.completions.create(model="my-chat", messages=HI, stream=True))
    assert chunks[0].choices == [] and chunks[0].model_extra["prompt_filter_results"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks[1:] if c.choices) == "This is a test."


def test_responses(azure):
    response = azure.responses.create(model="my-chat", input="Say this is a test")
    assert response.output_text == "This is a test."


def test_the_v1_api_takes_the_deployment_as_model(server):
    client = openai.OpenAI(base_url=f"{server.base_url}/openai/v1/", api_key=KEY, max_retries=0)
    assert client.chat.completions.create(model="my-chat", messages=HI).choices[0].message.content == "This is a test."
    assert client.responses.create(model="my-chat", input="Say this is a test").output_text == "This is a test."
    assert client.embeddings.create(model="my-embedder", input="x").data


def test_an_unknown_deployment_is_deployment_not_found(azure):
    with pytest.raises(openai.NotFoundError) as caught:
        azure.chat.completions.create(model="nobody-deployed-this", messages=HI)
    assert caught.value.body["code"] == "DeploymentNotFound"
    assert set(caught.value.body) == {"code", "message"}


def test_a_wrong_or_missing_key_is_azure_s_401(server):
    url = f"{server.base_url}/openai/deployments/my-chat/chat/completions?api-version={API_VERSION}"
    wrong = httpx.post(url, json={"messages": HI}, headers={"api-key": "nope"})
    missing = httpx.post(url, json={"messages": HI})
    assert wrong.status_code == missing.status_code == 401
    assert wrong.json()["error"]["code"] == "401" and "invalid subscription key" in wrong.json()["error"]["message"]
    assert "missing subscription key" in missing.json()["error"]["message"]
    bad = openai.AzureOpenAI(azure_endpoint=server.base_url, api_version=API_VERSION, api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="my-chat", messages=HI)


def test_a_missing_api_version_is_resource_not_found(server):
    answer = httpx.post(f"{server.base_url}/openai/deployments/my-chat/chat/completions", json={"messages": HI},
                        headers={"api-key": KEY})
    assert answer.status_code == 404 and answer.json() == {"error": {"code": "404", "message": "Resource not found"}}


def test_a_rate_limit_is_azure_s_429(azure, server):
    httpx.patch(f"{server.base_url}/sentra/v1/config",
                json={"rate_limiting": {"enable": True, "overrides": {"gpt-4o-mini": {"rpm": 1, "tpm": 100000}}}})
    first = azure.chat.completions.with_raw_response.create(model="my-chat", messages=HI)
    assert first.headers["x-ratelimit-limit-requests"] == "1"
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    assert "x-ratelimit-reset-requests" not in first.headers
    with pytest.raises(openai.RateLimitError) as caught:
        azure.chat.completions.create(model="my-chat", messages=HI)
    body, headers = caught.value.body, caught.value.response.headers
    assert body["code"] == "429" and set(body) == {"code", "message"}
    assert re.search(r"ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded "
                     r"call rate limit .* Please retry after (\d+) seconds", body["message"])
    assert int(headers["retry-after"]) >= 1 and int(headers["retry-after-ms"]) >= 1


def test_a_control_fault_reaches_azure_routes_too(azure, server):
    httpx.post(f"{server.base_url}/sentra/v1/faults", json={"status": 429, "endpoint": "chat.completions"})
    with pytest.raises(openai.RateLimitError) as caught:
        azure.chat.completions.create(model="my-chat", messages=HI)
    assert caught.value.body["code"] == "429"
    assert azure.chat.completions.create(model="my-chat", messages=HI).choices

"""What running openai-python 3.57.0's own tests/api_resources against the server turned up, kept as checks of ours."""

from __future__ import annotations

import httpx
import openai
import pytest


def test_responses_without_a_model_name_the_missing_parameter(openai_client):
    """`client.responses.create()` with nothing (the SDK's minimal create tests): the Responses API answers with its
    own form, not chat's "you must provide a model parameter" (api.openai.com body in mattermost-plugin-agents#476)."""
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.responses.create(input="Hi")
    assert refused.value.body == {"message": "Missing required parameter: 'model'.", "type": "invalid_request_error",
                                  "param": "model", "code": "missing_required_parameter"}


def test_the_embeddings_the_sdk_asks_for_by_default_decode_to_floats(openai_client, fast_server):
    """The SDK sends encoding_format "base64" when the caller names none and decodes the answer itself; the server
    must take that request and answer a base64 string of float32s of the model's width."""
    sent = httpx.post(fast_server.api_url + "/embeddings", headers={"authorization": "Bearer sk-test"},
                      json={"model": "text-embedding-3-small", "input": "The quick brown fox", "encoding_format": "base64"})
    assert sent.status_code == 200 and isinstance(sent.json()["data"][0]["embedding"], str)
    embedding = openai_client.embeddings.create(model="text-embedding-3-small", input="The quick brown fox")
    vector = embedding.data[0].embedding
    assert len(vector) == 1536 and all(isinstance(x, float) for x in vector)

"""Input counting rules on requests built for them (the captures are replayed in test_counting_captures.py): images
cost what chat charges for them, files, function tools, text.format, instructions not carried along a chain."""

from __future__ import annotations

import base64

import orjson
import pytest
from sentra_openai.engine.content.png import picture_png
from sentra_openai.tokens import get_encoding

pytestmark = pytest.mark.server

WEATHER = {"type": "function", "name": "get_weather", "description": "Get the weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                          "additionalProperties": False}, "strict": True}


def count(client, **body) -> int:
    return client.responses.input_tokens.count(**body).input_tokens


def _image_url(width: int, height: int) -> str:
    return "data:image/png;base64," + base64.b64encode(picture_png(width, height, 7)).decode()


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1-mini", "gpt-5-mini"])
@pytest.mark.parametrize("size, detail", [((512, 512), "high"), ((1024, 2048), "auto"), ((800, 600), "low")])
def test_an_image_costs_what_chat_charges(openai_client, model, size, detail):
    url = _image_url(*size)
    text_part = {"type": "input_text", "text": "What is in this picture?"}
    with_image = count(openai_client, model=model, input=[{"role": "user", "content": [
        text_part, {"type": "input_image", "image_url": url, "detail": detail}]}])
    without = count(openai_client, model=model, input=[{"role": "user", "content": [text_part]}])
    chat = lambda parts: openai_client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": parts}], max_completion_tokens=16).usage.prompt_tokens
    chat_text = {"type": "text", "text": "What is in this picture?"}
    chat_image = chat([chat_text, {"type": "image_url", "image_url": {"url": url, "detail": detail}}]) - chat([chat_text])
    assert with_image - without == chat_image > 0


def test_tools_and_formats_add_their_own_tokens(openai_client):
    base = count(openai_client, model="gpt-4.1", input="What is the weather in Paris?")
    with_tool = count(openai_client, model="gpt-4.1", input="What is the weather in Paris?", tools=[WEATHER])
    assert with_tool - base == 31  # the hmarr rendering (29 tokens here) + tools_overhead 2
    fmt = {"format": {"type": "json_schema", "name": "W", "strict": True,
                      "schema": {"type": "object", "properties": {"t": {"type": "number"}}, "required": ["t"],
                                 "additionalProperties": False}}}
    with_format = count(openai_client, model="gpt-4.1", input="What is the weather in Paris?", text=fmt)
    # The compact schema JSON, less what strict implies (required, additionalProperties), + 10 (models.yaml cookbook
    # response_format)
    seen = {"type": "object", "properties": {"t": {"type": "number"}}}
    schema_tokens = len(get_encoding("o200k_base").encode_ordinary(orjson.dumps(seen).decode()))
    assert with_format - base == schema_tokens + 10
    loose = {"format": {**fmt["format"], "strict": False}}  # not strict: the schema as sent
    with_loose = count(openai_client, model="gpt-4.1", input="What is the weather in Paris?", text=loose)
    full_tokens = len(get_encoding("o200k_base").encode_ordinary(orjson.dumps(fmt["format"]["schema"]).decode()))
    assert with_loose - base == full_tokens + 10


def test_function_call_and_output_items(openai_client):
    question = {"role": "user", "content": "What is the weather in Paris?"}
    call = {"type": "function_call", "call_id": "call_abc", "name": "get_weather", "arguments": '{"city":"Paris"}'}
    output = {"type": "function_call_output", "call_id": "call_abc", "output": "sunny"}
    alone = count(openai_client, model="gpt-4o", input=[question])
    both = count(openai_client, model="gpt-4o", input=[question, call, output])
    # Each a message of its own (config/responses.yaml function_calls.hmarr, pinned by six captures): the call's
    # header names its recipient, the output's its author; 3 frame tokens each.
    tokens = lambda text: len(get_encoding("o200k_base").encode_ordinary(text))
    call_tokens = 3 + tokens("assistant to=functions.get_weather") + tokens('{"city":"Paris"}')
    output_tokens = 3 + tokens("functions.get_weather") + tokens("sunny")
    assert both - alone == call_tokens + output_tokens == 9 + 5 + 8
    # Parallel calls: each call and each output pays its own header (capture model_retry-1).
    second_call = {**call, "call_id": "call_def", "arguments": '{"city":"Rome"}'}
    second_output = {**output, "call_id": "call_def"}
    four = count(openai_client, model="gpt-4o", input=[question, call, second_call, output, second_output])
    assert four - both == 3 + tokens("assistant to=functions.get_weather") + tokens('{"city":"Rome"}') + output_tokens


def test_text_files_count_their_text(openai_client):
    text = "The quarterly report shows revenue grew by twelve percent."
    data = "data:text/plain;base64," + base64.b64encode(text.encode()).decode()
    prompt = {"type": "input_text", "text": "Summarise."}
    plain = count(openai_client, model="gpt-4o-mini", input=[{"role": "user", "content": [prompt]}])
    with_file = count(openai_client, model="gpt-4o-mini", input=[{"role": "user", "content": [
        prompt, {"type": "input_file", "filename": "r.txt", "file_data": data}]}])
    inline = count(openai_client, model="gpt-4o-mini", input=[{"role": "user", "content": [
        prompt, {"type": "input_text", "text": text}]}])
    assert with_file == inline > plain


def test_instructions_do_not_carry_over_a_chain(openai_client):
    first = openai_client.responses.create(model="gpt-4o-mini", instructions="Answer in French. " * 20, input="Hi")
    chained = openai_client.responses.create(model="gpt-4o-mini", previous_response_id=first.id, input="Again")
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": first.output_text},
               {"role": "user", "content": "Again"}]
    assert chained.usage.input_tokens == count(openai_client, model="gpt-4o-mini", input=history)

"""Spoken answers of the chat audio models, through the official SDK: `modalities: ["text", "audio"]` with
`audio: {voice, format}` answers `message.audio` {id, expires_at, data, transcript} whose data is a real file of the
requested format (decoded here), `content: null`, audio tokens in usage billed at the audio-token prices, the stream's
`delta.audio` pieces, `input_audio` parts, and OpenAI's 400s. Rates: config/audio.yaml (20 output / 10 input audio
tokens a second, 2.5 words a second, 24 kHz mono)."""

from __future__ import annotations

import base64
import io
import itertools
import math
import re
import wave
from decimal import Decimal

import av
import httpx
import orjson
import pytest
from openapi_schemas import validate
from sdk_checks import bad_request
from sentra_openai.catalog import Catalog

pytestmark = pytest.mark.server
CATALOG = Catalog.default()
PREVIEW = "gpt-4o-audio-preview"
QUESTION = [{"role": "user", "content": "Is a golden retriever a good family dog?"}]
WAV = {"voice": "alloy", "format": "wav"}
RATE = 24000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import start_server

    # The audio previews were shut down on 2026-05-07: judged on a day they still answered.
    running = start_server(tmp_path_factory.mktemp("audio"), {"metrics": {"enable": False}},
                           env={"SENTRA_MODELS_AS_OF": "2026-04-01"})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    return server.client(max_retries=0)


def speak(client, model=PREVIEW, audio=WAV, messages=QUESTION, **params):
    return client.chat.completions.create(model=model, messages=messages, modalities=["text", "audio"], audio=audio,
                                          **params)


def expected_seconds(transcript: str) -> float:
    return max(len(transcript.split()) / 2.5, 0.5)


def wav_bytes(seconds: float, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(int(3000 * math.sin(i / 7)).to_bytes(2, "little", signed=True)
                                 for i in range(int(seconds * rate))))
    return buffer.getvalue()


def decoded_seconds(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.rate


def test_a_spoken_answer_is_a_wav_file_of_its_transcript(client):
    completion = speak(client)
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    message = completion.choices[0].message
    assert message.content is None and completion.choices[0].finish_reason == "stop"
    audio = message.audio
    assert re.fullmatch(r"audio_[0-9a-f]{32}", audio.id)
    assert audio.id[6:14] == f"{completion.created:08x}"  # as the real ids: the creation time first
    assert audio.expires_at > completion.created and len(audio.transcript.split()) > 3
    with wave.open(io.BytesIO(base64.b64decode(audio.data))) as sound:
        assert (sound.getnchannels(), sound.getsampwidth(), sound.getframerate()) == (1, 2, RATE)
        frames = sound.readframes(sound.getnframes())
        seconds = sound.getnframes() / RATE
    assert seconds == pytest.approx(expected_seconds(audio.transcript), abs=1 / RATE)
    samples = memoryview(frames).cast("h")
    assert max(abs(s) for s in samples) > 3000 and min(samples[: RATE // 100]) >= -32768  # a sound, not silence
    usage = completion.usage
    details = usage.completion_tokens_details
    assert details.audio_tokens == math.ceil(seconds * 20)
    assert details.text_tokens + details.audio_tokens == usage.completion_tokens
    assert usage.prompt_tokens_details.audio_tokens == 0
    assert usage.prompt_tokens_details.text_tokens == usage.prompt_tokens


def test_the_same_request_says_the_same_and_another_voice_sounds_different(client):
    first, again = speak(client, seed=7), speak(client, seed=7)
    assert first.choices[0].message.audio.data == again.choices[0].message.audio.data
    assert first.choices[0].message.audio.id != again.choices[0].message.audio.id  # one id per response
    other = speak(client, seed=7, audio={"voice": "echo", "format": "wav"})
    assert other.choices[0].message.audio.data != first.choices[0].message.audio.data


def test_a_voice_has_its_own_pitch():
    from sentra_openai.engine.content import speech

    words = "one two three four five six"
    low, high = (memoryview(speech.synthesize(words, voice, 1)).cast("h") for voice in ("echo", "shimmer"))
    assert len(low) == len(high) == round(expected_seconds(words) * RATE)

    def rising_zero_crossings(samples) -> int:
        return sum(1 for a, b in itertools.pairwise(samples) if a < 0 <= b)

    assert rising_zero_crossings(high) > 1.5 * rising_zero_crossings(low)  # shimmer 250 Hz, echo 120 Hz


@pytest.mark.parametrize(("fmt", "magic"), [("mp3", (b"ID3", b"\xff\xf3", b"\xff\xfb")), ("flac", (b"fLaC",)),
                                            ("opus", (b"OggS",)), ("aac", (b"\xff\xf1", b"\xff\xf9"))])
def test_every_compressed_format_is_a_decodable_file(client, fmt, magic):
    audio = speak(client, model="gpt-audio-mini", audio={"voice": "coral", "format": fmt}).choices[0].message.audio
    data = base64.b64decode(audio.data)
    assert data.startswith(magic)
    if fmt == "opus":
        assert b"OpusHead" in data[:64]
    # Encoders pad a frame or two (AAC 1024 samples, Opus 80 ms pre-skip at most).
    assert decoded_seconds(data) == pytest.approx(expected_seconds(audio.transcript), abs=0.1)


def test_pcm16_is_raw_24khz_samples(client):
    audio = speak(client, audio={"voice": "sage", "format": "pcm16"}).choices[0].message.audio
    assert len(base64.b64decode(audio.data)) == 2 * round(expected_seconds(audio.transcript) * RATE)


def test_a_custom_voice_reference_speaks(client):
    custom = {"voice": {"id": "voice_1234"}, "format": "wav"}
    assert speak(client, model="gpt-audio-mini", audio=custom).choices[0].message.audio


def test_the_stream_sends_the_transcript_then_the_pcm16_data_then_the_expiry(client):
    pcm = {"voice": "alloy", "format": "pcm16"}
    whole = speak(client, audio=pcm, seed=3).choices[0].message.audio
    stream = speak(client, audio=pcm, seed=3, stream=True, stream_options={"include_usage": True})
    audio_deltas, finish, usage = [], None, None
    for chunk in stream:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content is not None:
                raise AssertionError("a spoken answer streams no content")
            if getattr(choice.delta, "audio", None) is not None:
                audio_deltas.append(choice.delta.audio.model_dump(exclude_unset=True))  # ChoiceDeltaAudio
            finish = choice.finish_reason or finish
    assert audio_deltas[0]["id"].startswith("audio_") and "transcript" in audio_deltas[0]
    transcript = "".join(d.get("transcript", "") for d in audio_deltas)
    data = "".join(d.get("data", "") for d in audio_deltas)
    first_data = next(i for i, d in enumerate(audio_deltas) if "data" in d)
    assert all("data" not in d for d in audio_deltas[:first_data])  # the words first, then their sound
    assert audio_deltas[first_data]["id"] == audio_deltas[0]["id"]
    assert sum("data" in d for d in audio_deltas) > 1
    assert list(audio_deltas[-1]) == ["expires_at"] and audio_deltas[-1]["expires_at"] > 0
    assert (transcript, data) == (whole.transcript, whole.data)  # the pieces join into the whole answer
    assert finish == "stop"
    assert usage.completion_tokens_details.audio_tokens == math.ceil(expected_seconds(transcript) * 20)


def test_a_token_limit_cuts_the_spoken_answer(client):
    completion = speak(client, max_completion_tokens=40)
    usage, audio = completion.usage, completion.choices[0].message.audio
    assert completion.choices[0].finish_reason == "length"
    assert 30 < usage.completion_tokens <= 40
    seconds = len(base64.b64decode(audio.data)[44:]) / 2 / RATE
    assert usage.completion_tokens_details.audio_tokens == math.ceil(seconds * 20)


def test_audio_tokens_are_billed_at_the_audio_prices(client):
    heard = {"data": base64.b64encode(wav_bytes(2.0)).decode(), "format": "wav"}
    response = client.chat.completions.with_raw_response.create(
        model="gpt-audio-mini", modalities=["text", "audio"], audio=WAV, messages=[{"role": "user", "content": [
            {"type": "text", "text": "What do you hear?"}, {"type": "input_audio", "input_audio": heard}]}])
    usage = response.parse().usage
    prompt_audio = usage.prompt_tokens_details.audio_tokens
    completion_audio = usage.completion_tokens_details.audio_tokens
    assert prompt_audio == 20  # two seconds at 10 input tokens a second
    text, sound = CATALOG["gpt-audio-mini"].prices, CATALOG["gpt-audio-mini"].audio_token_prices
    expected = ((usage.prompt_tokens - prompt_audio) * Decimal(text.input)
                + (usage.completion_tokens - completion_audio) * Decimal(text.output)
                + prompt_audio * Decimal(sound.input) + completion_audio * Decimal(sound.output)) / 1_000_000
    assert Decimal(response.headers["x-sentra-cost-usd"]) == expected
    assert sound.output == "20.00" and completion_audio > 0


def test_input_audio_in_wav_or_mp3_is_heard_by_the_audio_models(client):
    mp3 = io.BytesIO()
    with av.open(mp3, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=24000, layout="mono")
        frame = av.AudioFrame(format="s16", layout="mono", samples=24000 * 3)
        frame.planes[0].update(bytes(2 * 24000 * 3))
        frame.sample_rate, frame.pts = 24000, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    part = {"type": "input_audio", "input_audio": {"data": base64.b64encode(mp3.getvalue()).decode(), "format": "mp3"}}
    # Text out, audio in: no `audio` parameter needed.
    completion = client.chat.completions.create(model="gpt-audio-mini", messages=[{"role": "user", "content": [part]}])
    assert completion.choices[0].message.content and completion.choices[0].message.audio is None
    assert completion.usage.prompt_tokens_details.audio_tokens == 30
    # An audio preview refuses a text-only request but takes one that holds audio.
    assert client.chat.completions.create(model=PREVIEW, messages=[{"role": "user", "content": [part]}]).choices


def test_input_audio_is_checked_and_refused_on_models_that_do_not_hear(client):
    good = base64.b64encode(wav_bytes(0.5)).decode()

    def ask(model, audio_part):
        return client.chat.completions.create(model=model, messages=[{"role": "user", "content": [
            {"type": "text", "text": "Listen"}, {"type": "input_audio", "input_audio": audio_part}]}])

    error = bad_request(lambda: ask("gpt-4o-mini", {"data": good, "format": "wav"}))
    assert error["param"] == "messages[0].content[1].type" and "input_audio" in error["message"]
    error = bad_request(lambda: ask("gpt-audio-mini", {"data": good, "format": "ogg"}))
    assert (error["param"], error["code"]) == ("messages[0].content[1].input_audio.format", "invalid_value")
    assert "'wav', and 'mp3'" in error["message"]
    not_a_wave = base64.b64encode(b"not a wave").decode()
    error = bad_request(lambda: ask("gpt-audio-mini", {"data": not_a_wave, "format": "wav"}))
    assert error["param"] == "messages[0].content[1].input_audio.data"
    error = bad_request(lambda: ask("gpt-audio-mini", {"data": "%%%", "format": "mp3"}))
    assert error["param"] == "messages[0].content[1].input_audio.data"
    error = bad_request(lambda: ask("gpt-audio-mini", {"data": good}))
    assert (error["param"], error["code"]) == ("messages[0].content[1].input_audio.format", "missing_required_parameter")


def test_the_audio_parameter_is_checked_as_openai_checks_it(client):
    error = bad_request(lambda: client.chat.completions.create(model=PREVIEW, messages=QUESTION,
                                                               modalities=["text", "audio"]))
    assert (error["param"], error["message"]) == ("audio", "Missing required parameter: 'audio'.")
    error = bad_request(lambda: speak(client, audio={"voice": "nova", "format": "wav"}))
    assert (error["param"], error["code"]) == ("audio.voice", "invalid_value")
    assert error["message"].startswith("Invalid value: 'nova'. Supported values are: 'alloy', 'ash', 'ballad'")
    error = bad_request(lambda: speak(client, audio={"format": "wav"}))
    assert error["param"] == "audio.voice"
    error = bad_request(lambda: speak(client, audio={"voice": "alloy", "format": "ogg"}))
    assert (error["param"], error["code"]) == ("audio.format", "invalid_value")
    error = bad_request(lambda: speak(client, audio=WAV, stream=True))
    assert error["param"] == "audio.format"  # a stream speaks pcm16 only
    error = bad_request(lambda: speak(client, model="gpt-4o"))
    assert (error["param"], error["code"]) == ("modalities", "unsupported_parameter")
    error = bad_request(lambda: client.chat.completions.create(model=PREVIEW, messages=QUESTION))
    assert error["message"] == "This model requires that either input content or output modality contain audio."


def test_an_earlier_spoken_answer_is_referenced_by_its_id(client):
    first = speak(client)
    follow_up = [*QUESTION, {"role": "assistant", "audio": {"id": first.choices[0].message.audio.id}},
                 {"role": "user", "content": "And a labrador?"}]
    assert speak(client, messages=follow_up).choices[0].message.audio.transcript


def test_the_responses_api_takes_no_audio(server):
    def post(body):
        return httpx.post(f"{server.api_url}/responses", json=body, timeout=10)

    chat_only = post({"model": "gpt-audio-mini", "input": "Hi"})
    assert chat_only.status_code == 404
    assert "only supported in v1/chat/completions" in chat_only.json()["error"]["message"]
    for field, value in (("modalities", ["text", "audio"]), ("audio", WAV)):
        refused = post({"model": "gpt-4o", "input": "Hi", field: value})
        assert refused.status_code == 400 and field in refused.json()["error"]["message"]
    part = {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav_bytes(0.5)).decode(), "format": "wav"}}
    refused = post({"model": "gpt-4o", "input": [{"role": "user", "content": [part]}]})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "input[0].content[0].type"
    assert orjson.loads(refused.content)["error"]["code"] == "invalid_value"


def test_a_damaged_audio_file_gets_a_400_never_a_500(server):
    import random

    clean = wav_bytes(0.3)
    rng = random.Random(11)
    for fmt in ("wav", "mp3"):
        for _ in range(12):
            damaged = bytearray(clean if fmt == "wav" else b"ID3\x04\x00\x00\x00\x00\x00\x0a" + clean)
            for _ in range(rng.randint(1, 20)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            data = base64.b64encode(bytes(damaged[: rng.randint(0, len(damaged))])).decode()
            part = {"type": "input_audio", "input_audio": {"data": data, "format": fmt}}
            response = httpx.post(f"{server.api_url}/chat/completions", timeout=10, json={
                "model": "gpt-audio-mini", "messages": [{"role": "user", "content": [part]}]})
            assert response.status_code in (200, 400), response.text
            if response.status_code == 400:
                assert response.json()["error"]["param"] == "messages[0].content[0].input_audio.data"


def test_each_of_n_choices_speaks_its_own_answer(client):
    completion = speak(client, model="gpt-audio-mini", n=2)
    first, second = (choice.message.audio for choice in completion.choices)
    assert first.id != second.id and first.data != second.data
    details = completion.usage.completion_tokens_details
    assert details.audio_tokens == sum(math.ceil(expected_seconds(a.transcript) * 20) for a in (first, second))

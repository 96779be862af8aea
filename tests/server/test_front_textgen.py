"""What the front composes new prompts' answers with (server/front.py `_textgen_source`, rust/core/src/front/shape.rs):
the lexicon the engine reads and every packaged encoding's ranks file and pattern, exactly tiktoken's."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
from sentra_openai.config import load_settings
from sentra_openai.engine.content.lexicon import lexicon
from sentra_openai.server.front import _textgen_source
from sentra_openai.tokens.offline_encodings import ENCODING_FILES, get_encoding


def test_the_front_gets_the_engines_lexicon_and_each_encodings_own_ranks_and_pattern():
    lexicon_json, encodings = _textgen_source(load_settings(mode="fast", environ={}))
    assert orjson.loads(lexicon_json) == orjson.loads(orjson.dumps(lexicon()))
    assert set(encodings) == set(ENCODING_FILES)
    for name, (path, pattern) in encodings.items():
        tiktoken_encoding = get_encoding(name)
        assert pattern == tiktoken_encoding._pat_str
        first = Path(path).read_bytes().split(b"\n", 1)[0]  # "<base64 token bytes> <rank>" for rank 0
        token, rank = first.split(b" ")
        assert tiktoken_encoding.decode_single_token_bytes(int(rank)) == base64.b64decode(token)


def test_without_replay_the_front_composes_nothing():
    settings = load_settings(mode="fast", cli={"server.front_replay": False}, environ={})
    assert _textgen_source(settings) is None

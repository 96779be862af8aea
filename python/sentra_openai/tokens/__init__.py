"""Exact prompt-token counting, as OpenAI bills it, with tiktoken running fully offline.

One job per module:

* ``offline_encodings``: the packaged tiktoken files put in tiktoken's cache (hash-checked), then loaded, no network;
* ``image_size``: an image's width and height from its PNG/JPEG/GIF/WEBP header in a data URL;
* ``image_rules``: an image's input tokens under the model's tile or patch rule;
* ``function_render``: tool/function definitions as the TypeScript namespace the model reads (hmarr or harmony);
* ``response_format_render``: a json_schema response format as the prompt text (compact JSON or harmony's section);
* ``counter``: TokenCounter, the counting rules for chat messages and tools, legacy completions and embeddings.
"""

from __future__ import annotations

from .counter import InputCount, PromptCount, TokenCounter
from .function_render import render_functions
from .image_rules import image_tokens
from .image_size import image_dimensions
from .offline_encodings import ENCODING_FILES, EncodingFile, ensure_encoding_cached, get_encoding
from .response_format_render import json_schema_spec, render_response_format

__all__ = [
    "ENCODING_FILES",
    "EncodingFile",
    "InputCount",
    "PromptCount",
    "TokenCounter",
    "ensure_encoding_cached",
    "get_encoding",
    "image_dimensions",
    "image_tokens",
    "json_schema_spec",
    "render_functions",
    "render_response_format",
]

"""tiktoken's encodings in the native core (rust/core/src/textgen/bpe.rs), built from the same offline files.

The ranks come from the uncompressed file that ``offline_encodings`` places in tiktoken's cache (so tiktoken and
the native encoding read one copy), the split pattern from ``ENCODING_FILES`` (tiktoken's own, as a test checks).
Special tokens are not part of the native encoding: it gives ``encode_ordinary``.
"""

from __future__ import annotations

import threading

from sentra_openai._native import BpeEncoding
from sentra_openai.tokens.offline_encodings import ENCODING_FILES, ensure_encoding_cached

__all__ = ["encoding_source", "native_encoding"]

_lock = threading.Lock()
_native: dict[str, BpeEncoding] = {}


def encoding_source(name: str) -> tuple[str, str]:
    """(path of the uncompressed ``.tiktoken`` ranks file in tiktoken's cache, tiktoken's split pattern)."""
    if name not in ENCODING_FILES:
        raise ValueError(f"unsupported encoding {name!r}; expected one of {', '.join(ENCODING_FILES)}")
    spec = ENCODING_FILES[name]
    return str(ensure_encoding_cached(name) / spec.cache_name), spec.pattern


def native_encoding(name: str) -> BpeEncoding:
    """The native encoding for `name`, built once per process (thread-safe)."""
    encoding = _native.get(name)
    if encoding is None:
        with _lock:
            encoding = _native.get(name)
            if encoding is None:
                path, pattern = encoding_source(name)
                encoding = _native[name] = BpeEncoding.from_path(path, pattern)
    return encoding

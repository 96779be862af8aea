"""tiktoken encodings loaded fully offline, from the copies packaged with sentra-openai.

The encodings ship in ``sentra_openai/encodings/*.tiktoken.gz`` (byte-identical copies of tiktoken's files).
tiktoken's ``load.read_file_cached`` looks for ``$TIKTOKEN_CACHE_DIR/<sha1(url)>`` and accepts it when its sha256
equals the expected hash; only a missing or corrupt file makes it download. So before the first
``tiktoken.get_encoding`` we make sure that file exists and is intact (gunzipped from our copy, written atomically),
and no network is ever touched. tiktoken still checks the hash itself.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import tiktoken

__all__ = ["ENCODING_FILES", "EncodingFile", "ensure_encoding_cached", "get_encoding"]


@dataclass(frozen=True, slots=True)
class EncodingFile:
    url: str  # the blob path tiktoken_ext.openai_public passes to read_file_cached
    sha256: str  # tiktoken's expected_hash for it
    packaged: str  # our gzipped copy under sentra_openai/encodings/
    # tiktoken's split pattern (its `pat_str`), which the native encoding (native_bpe.py) needs: known here, so the
    # front can be given it without loading tiktoken's encoding (about 0.3 s each, README "Benchmarks").
    pattern: str

    @property
    def cache_name(self) -> str:
        # tiktoken/load.py names cache files after the sha1 of the blob path
        return hashlib.sha1(self.url.encode()).hexdigest()


# Source: tiktoken 0.14.0, tiktoken_ext/openai_public.py (tokens-pricing.md §2).
ENCODING_FILES: Mapping[str, EncodingFile] = {
    "cl100k_base": EncodingFile(
        url="https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        packaged="cl100k_base.tiktoken.gz",
        pattern=r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|"""
                r"""\s+(?!\S)|\s""",
    ),
    "o200k_base": EncodingFile(
        url="https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        packaged="o200k_base.tiktoken.gz",
        pattern=r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"""
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"""
                r"""\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    ),
}

_ENV = "TIKTOKEN_CACHE_DIR"
_load_lock = threading.Lock()
_encodings: dict[str, tiktoken.Encoding] = {}


def _sha256_matches(path: Path, expected: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == expected
    except OSError:
        return False


def _packaged_bytes(spec: EncodingFile) -> bytes:
    resource = resources.files("sentra_openai") / "encodings" / spec.packaged
    data = gzip.decompress(resource.read_bytes())
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise RuntimeError(
            f"sentra_openai/encodings/{spec.packaged} is corrupt: its content does not match tiktoken's hash "
            f"{spec.sha256}; reinstall sentra-openai"
        )
    return data


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)  # readers in other processes see either nothing or the whole file
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _own_cache_dirs() -> list[Path]:
    """Where we keep the encodings when the user has not chosen a tiktoken cache."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    uid = getattr(os, "getuid", lambda: "user")()
    return [base / "sentra-openai" / "tiktoken", Path(tempfile.gettempdir()) / f"sentra-openai-tiktoken-{uid}"]


def _provision(directory: Path, spec: EncodingFile) -> bool:
    """Make `directory/<sha1(url)>` an intact copy of the encoding; False if the directory is unusable."""
    target = directory / spec.cache_name
    if _sha256_matches(target, spec.sha256):
        return True
    try:
        _write_atomically(target, _packaged_bytes(spec))
    except OSError:
        return False
    return True


def ensure_encoding_cached(name: str) -> Path:
    """Place the encoding where tiktoken will look for it and return that cache directory.

    An existing TIKTOKEN_CACHE_DIR is respected (our file is added to it). Otherwise a per-user cache directory
    is used (falling back to a temp directory when that is not writable) and TIKTOKEN_CACHE_DIR is set to it,
    so that any tiktoken use in this process is offline too.
    """
    spec = ENCODING_FILES[name]
    chosen = os.environ.get(_ENV)
    if chosen and _provision(Path(chosen), spec):
        return Path(chosen)
    for directory in _own_cache_dirs():
        if _provision(directory, spec):
            if chosen is None:  # unset: share our offline copy with every tiktoken user in the process
                os.environ[_ENV] = str(directory)
            return directory
    raise RuntimeError(f"no writable directory for the {name} tiktoken cache (tried {_own_cache_dirs()})")


def _load_encoding(name: str) -> tiktoken.Encoding:
    if name not in ENCODING_FILES:
        raise ValueError(f"unsupported encoding {name!r}; expected one of {', '.join(ENCODING_FILES)}")
    directory = ensure_encoding_cached(name)
    previous = os.environ.get(_ENV)
    if previous == str(directory):
        return tiktoken.get_encoding(name)
    # The user's TIKTOKEN_CACHE_DIR is unusable (not writable, or "" which disables caching): point tiktoken at
    # our copy for this one call. tiktoken keeps the Encoding afterwards, so it never reads the variable again.
    os.environ[_ENV] = str(directory)
    try:
        return tiktoken.get_encoding(name)
    finally:
        if previous is None:
            del os.environ[_ENV]
        else:
            os.environ[_ENV] = previous


def get_encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken Encoding for `name`, loaded offline once per process (thread-safe)."""
    encoding = _encodings.get(name)
    if encoding is None:
        with _load_lock:
            encoding = _encodings.get(name)
            if encoding is None:
                encoding = _encodings[name] = _load_encoding(name)
    return encoding

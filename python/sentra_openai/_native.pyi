"""Type stubs of the compiled module `sentra_openai._native` (rust/py). Keep in step with rust/py/src."""

from collections.abc import Sequence
from os import PathLike
from typing import final

from typing_extensions import Self

__all__ = [
    "__version__", "NativeLimiter", "NativeDecision", "go_duration", "cost_picodollars", "image_cost_picodollars",
    "format_usd", "DONE", "frame", "json_string", "ChunkTemplate", "FixtureIndex", "NativeFront", "MersenneTwister",
    "BpeEncoding", "Lexicon", "generate_answer", "truncate_to_tokens", "salient_phrases",
]
__version__: str

# --- limiter (rust/py/src/limiter.rs) ---

@final
class NativeDecision:
    """Per-limit lists in the order of the limits given to `NativeLimiter.acquire`."""

    @property
    def allowed(self) -> bool: ...
    @property
    def remaining(self) -> list[int]: ...
    @property
    def reset_after_ns(self) -> list[int]: ...
    @property
    def retry_after_ns(self) -> list[int]:
        """0 where the limit admits; 2**64 - 1 where the cost exceeds the capacity."""
    @property
    def too_large(self) -> list[bool]: ...

@final
class NativeLimiter:
    """GCRA limiter over a store: "memory" or "shm:/path[?slots=N]" (OSError if the file cannot be used).

    Redis ("redis://...") is served by sentra_openai.redis_limiter.RedisStore, not by this class.
    """

    def __new__(cls, store: str = "memory") -> Self: ...
    @property
    def store(self) -> str: ...
    def acquire(
        self,
        key: str,
        limits: Sequence[tuple[str, int, int]],
        costs: Sequence[int],
        now_ns: int,
    ) -> NativeDecision:
        """limits: (name, capacity, period_ns). Raises ValueError on bad input, never charges then."""
    def evict_expired(self, now_ns: int) -> int:
        """Drop buckets whose TAT is <= now_ns; returns how many were dropped."""

def go_duration(ns: int) -> str:
    """ns rounded up to whole ms, as a Go duration string ("0s", "120ms", "17.28s", "6m0s")."""

# --- cost (rust/py/src/cost.rs) ---

# Money is integer picodollars (1e-12 USD); prices are integer micro-dollars (per 1M tokens, or per image).
# Every int argument must be >= 0 and fit in 64 bits (format_usd: 128 bits): ValueError otherwise,
# TypeError for a non-int.

def cost_picodollars(
    prompt_tokens: int,
    cached_tokens: int,
    completion_tokens: int,
    input_micro: int,
    cached_micro: int,
    output_micro: int,
) -> int:
    """(prompt - cached) * input + cached * cached + completion * output. ValueError if cached > prompt."""

def image_cost_picodollars(n_images: int, price_micro: int) -> int:
    """n_images * price_micro * 1_000_000."""

def format_usd(picodollars: int) -> str:
    """Exact decimal USD with the fewest digits: 0 -> "0", 40_000_000_000 -> "0.04", 10**12 -> "1"."""

# --- sse (rust/py/src/sse.rs) ---

DONE: bytes
"""b"data: [DONE]\n\n", the event that ends a chat stream."""

def frame(payload: bytes) -> bytes:
    """b"data: " + payload + b"\n\n"."""

def json_string(text: str) -> str:
    """text as a JSON string literal, quotes included; byte-identical to orjson.dumps(text)."""

@final
class ChunkTemplate:
    """Chunk JSON = head + json_string(text) + tail [+ ',"obfuscation":' + json_string(obfuscation)] + "}".

    `tail` excludes the chunk object's closing brace so that `obfuscation` stays the last key.
    """

    def __new__(cls, head: str, tail: str) -> Self: ...
    @staticmethod
    def from_chunk_json(chunk_json: str, marker: str) -> ChunkTemplate:
        """Split a compact chunk JSON (no obfuscation key) around json_string(marker), which must occur once."""
    @property
    def head(self) -> str: ...
    @property
    def tail(self) -> str: ...
    def chunk(self, text: str, obfuscation: str | None = None) -> bytes:
        """The chunk JSON alone, without SSE framing."""
    def frame_text(self, text: str, obfuscation: str | None = None) -> bytes:
        """The whole SSE event: b"data: " + chunk + b"\n\n"."""
    def frame_texts(self, texts: Sequence[str], obfuscations: Sequence[str] | None = None) -> list[bytes]:
        """[frame_text(t, o) ...] in one call; ValueError if the two lengths differ."""

# --- fixtures (rust/py/src/fixtures.rs) ---

@final
class FixtureIndex:
    """Compiled fixture matching rules. Entries: (priority, exact, regex, model, weight).

    exact: equals the prompt with surrounding whitespace stripped; regex (Rust `regex` syntax): found in the
    prompt; model: an exact id or a prefix ending in "*"; weight > 0. An entry without exact and regex matches
    any prompt. ValueError names the entry (by `names[i]` when given) for a bad regex or weight.
    """

    def __new__(
        cls,
        entries: Sequence[tuple[int, str | None, str | None, str | None, float]],
        names: Sequence[str] | None = None,
    ) -> Self: ...
    def lookup(self, model: str, prompt: str, draw: float) -> int | None:
        """Index of the chosen entry: highest matching priority, then by weight with draw in [0, 1)."""
    def __len__(self) -> int: ...

# --- front layer (rust/py/src/front.rs) ---

@final
class NativeFront:
    """The HTTP/1.1 front layer: owns host:port, checks each request's framing, forwards it to the worker on
    127.0.0.1:<one of upstream_ports> with the fewest connections, relays the response. `rejections` maps each of
    bad_request, head_too_large, body_too_large, timeout, bad_gateway, unavailable to (status, content type, body)."""

    def __new__(
        cls,
        host: str,
        port: int,
        upstream_ports: Sequence[int],
        *,
        idle_timeout: float,
        header_timeout: float,
        body_timeout: float,
        send_timeout: float,
        keepalive_requests: int,
        max_connections: int,
        max_head_bytes: int,
        max_body_bytes: int,
        routed_methods: Sequence[str],
        rejections: dict[str, tuple[int, str, bytes]],
        replay: bool = False,
        store_path: str | None = None,
        store_synchronous: str = "normal",
        textgen: tuple[str, dict[str, tuple[str, str]]] | None = None,
        count_replays: bool = True,
    ) -> Self:
        """`replay`: answers the application notes as replayable (`x-sentra-replay`) are kept and given to identical
        requests by the front itself (rust/core/src/front/replay.rs). `store_path`: the SQLite state store into which
        the front writes the rows of the stored answers it replays (rust/core/src/front/store.rs); None: those are not
        replayed. `store_synchronous`: the PRAGMA synchronous of its commits (off, normal or full), the workers'.
        `textgen`: (the lexicon as JSON, {encoding name: (uncompressed .tiktoken file, tiktoken pattern)}), with which
        the front composes the answers to new prompts of the shapes the application notes (`x-sentra-replay-gen`,
        rust/core/src/front/shape.rs), each encoding read on the first shape naming it; None: it never does. A
        lexicon the composer cannot read raises ValueError. `count_replays`: the answers the front makes itself are
        counted for `take_replays`; False when nobody takes them."""
    def start(self) -> None:
        """Starts accepting on a background thread."""
    def take_replays(self) -> list[tuple[bytes, int, int]]:
        """The replays answered since the last call: (tag, milliseconds since arrival, count)."""
    def stop_accepting(self) -> None:
        """Refuses new connections from now on and closes idle ones; requests in progress finish."""
    @property
    def port(self) -> int: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def open_connections(self) -> int: ...
    @property
    def shed_connections(self) -> int:
        """Idle connections closed so far to make room under max_connections."""

# --- textgen.pyrandom (rust/py/src/textgen/pyrandom.rs) ---

@final
class MersenneTwister:
    """CPython's random.Random generator (MT19937), bit for bit: MersenneTwister(seed) draws what
    random.Random(seed) draws. seed: a str (seed version 2) or an int of any size (its absolute value); TypeError
    otherwise. sentra_openai.engine.native_random.NativeRandom puts random.Random's methods over it."""

    def __new__(cls, seed: str | int) -> Self: ...
    def seed(self, seed: str | int) -> None:
        """Re-seeds in place, as random.Random.seed(seed)."""
    def random(self) -> float: ...
    def getrandbits(self, k: int) -> int:
        """ValueError if k < 0; getrandbits(0) is 0 and draws nothing."""
    def getstate(self) -> tuple[int, ...]:
        """624 words and the index: random.Random.getstate()[1]."""
    def setstate(self, state: tuple[int, ...]) -> None:
        """The inverse of getstate (random.Random.getstate()[1] too); ValueError for a wrong size or index."""

# --- textgen.bpe (rust/py/src/textgen/bpe.rs) ---

@final
class BpeEncoding:
    """tiktoken's byte-pair encoding without special tokens, from a `.tiktoken` ranks file (`<base64 token> <rank>`
    lines, uncompressed) and tiktoken's split pattern (`Encoding._pat_str`): the same tokens as tiktoken's
    `encode_ordinary`. ValueError for a malformed file or pattern. sentra_openai.tokens.native_bpe builds the
    packaged encodings."""

    def __new__(cls, ranks: bytes, pattern: str) -> Self: ...
    @staticmethod
    def from_path(path: str | PathLike[str], pattern: str) -> BpeEncoding:
        """Reads the ranks file at `path`; OSError (FileNotFoundError, ...) if it cannot be read."""
    def encode_ordinary(self, text: str) -> list[int]:
        """tiktoken's encode_ordinary (lone surrogates become U+FFFD first, as tiktoken does)."""
    def count_ordinary(self, text: str) -> int:
        """len(encode_ordinary(text)), without building the list."""
    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        """tiktoken's decode_bytes; KeyError for an id that is not a token of the file."""
    def token_bytes(self, token: int) -> bytes:
        """tiktoken's decode_single_token_bytes; KeyError for an id that is not a token of the file."""
    @property
    def vocab_size(self) -> int:
        """Number of tokens in the ranks file (tiktoken's n_vocab less the special tokens)."""

# --- textgen.compose (rust/py/src/textgen/compose.rs) ---
# The prose generator of engine/content/textgen.py, bit for bit (engine/content/native_textgen.py wraps it).

@final
class Lexicon:
    """config/lexicon.yaml's word lists, templates and knobs, from `orjson.dumps(lexicon())`; ValueError for a
    missing key, a value of the wrong shape, an empty word list or a template slot without words."""

    def __new__(cls, json: str) -> Self: ...

def generate_answer(
    rng: MersenneTwister, max_tokens: int, encoding: BpeEncoding, lexicon: Lexicon, prompt: str, verbosity: str
) -> tuple[str, int, str]:
    """textgen.generate_answer's (text, completion_tokens, finish_reason "stop" | "length"), drawing from `rng`
    exactly as random.Random would. ValueError if max_tokens < 1."""
def truncate_to_tokens(encoding: BpeEncoding, text: str, n: int) -> str:
    """textgen.truncate_to_tokens: the longest prefix of at most n of text's tokens that re-encodes to <= n."""
def salient_phrases(lexicon: Lexicon, prompt: str) -> list[str]:
    """textgen.salient_phrases: up to two phrases from the prompt's last 2000 characters."""

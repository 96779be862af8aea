//! sentra-core: the hot paths of the sentra-openai simulator, in plain Rust (no PyO3 types).
//!
//! * [`limiter`]: GCRA rate limiting with pluggable stores, all-or-nothing across a request's buckets.
//! * [`cost`]: exact integer cost arithmetic (picodollars) and its decimal formatting.
//! * [`sse`]: Server-Sent-Events framing of chunk payloads.
//! * [`fixtures`]: the compiled fixture index (exact and regex matches, priority, weighted choice).
//! * [`front`]: the HTTP/1.1 front layer that checks request framing before the application server sees it.
//! * [`duration`]: Go `time.Duration` strings, the format of OpenAI's `x-ratelimit-reset-*` headers.
//! * [`textgen`]: generated prose drawn exactly as the Python engine draws it (its RNG, tiktoken's BPE, the lexicon).

pub mod cost;
pub mod duration;
pub mod fixtures;
pub mod front;
pub mod limiter;
pub mod sse;
pub mod textgen;

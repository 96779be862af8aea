//! Generated prose, drawn exactly as the Python engine draws it (`python/sentra_openai/engine/content/textgen.py`
//! is the reference, and the property tests in `tests/native/` hold the two to the same output).
//!
//! Why in Rust: a request with a new prompt spends half of its engine time composing the answer (README,
//! "Benchmarks"), and the front can only answer such a request itself if it can compose the same answer.
//!
//! * [`pyrandom`]: CPython's `random.Random` (MT19937, its seeding from str and int, and the draws the engine uses).
//! * [`bpe`]: tiktoken's byte-pair encoding (`encode_ordinary`, token bytes) over a `.tiktoken` rank file.
//! * [`lexicon`]: config/lexicon.yaml's word lists, templates and knobs, and the filling of one template.
//! * [`compose`]: an answer of natural length cut at a token limit, and the prompt's salient phrases.

pub mod bpe;
pub mod compose;
pub mod lexicon;
pub mod pyrandom;

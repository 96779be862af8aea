"""Type stubs of the compiled module `sentra_openai._native` (rust/py). Keep in step with rust/py/src."""

__version__: str

# --- limiter (rust/py/src/limiter.rs) ---

# --- cost (rust/py/src/cost.rs) ---

# --- sse (rust/py/src/sse.rs) ---

# --- fixtures (rust/py/src/fixtures.rs) ---

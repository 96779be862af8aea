"""POST /v1/chat/completions: the request model (request), what is said (generate), the pipeline (pipeline) and
the SSE stream (stream)."""

from .pipeline import register

__all__ = ["register"]

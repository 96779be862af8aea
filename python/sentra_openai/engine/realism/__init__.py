"""What makes answers behave like the real service: latency and stream pacing, rate limits and their token charge,
injected and mid-stream faults, prompt caching."""

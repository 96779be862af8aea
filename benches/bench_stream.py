"""Benchmark 3: many concurrent paced streams, and how far their timing drifts from the configured ideal.

The server runs with a tiny catalog (models.catalog) holding one extra model, `bench-paced`, whose latency profile
makes the ideal exactly computable: time to first token 0.1 s with p95 = median (no spread), 50 tokens/s with no
rate jitter. For a prompt of P tokens and K streamed pieces (one per token) the engine plans
    ttft  = 0.1 + P * PREFILL_SECONDS_PER_TOKEN
    total = ttft + (K - 1) / 50
(engine/realism/latency.py; each token's deadline also moves by up to 35% of one gap, mean zero, so the last event lands
within +-7 ms of `total`). P and K are read from one calibration stream with usage before the load.
Levels 100, 500 and 1000 run against 1 and 2 server processes (1 process and up to 500 streams with --quick).
"""

from __future__ import annotations

import copy

import harness
import orjson
import stream_client
import yaml

MODEL = "bench-paced"
TTFT_S = 0.1
TOKENS_PER_S = 50.0
MAX_TOKENS = 50
PROMPT = "Write a long story about a lighthouse keeper and the sea."


def _catalog(workdir) -> str:
    """The packaged catalog's prompt formats and fallback model, plus `bench-paced` with a spread-free profile."""
    from sentra_openai.config import config_dir

    document = yaml.load((config_dir() / "models.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    base = document["models"]["gpt-4o-mini"]
    paced = copy.deepcopy(base)
    paced.update(snapshot=f"{MODEL}-2026-01-01", aliases=[],
                 latency={"ttft_median_s": TTFT_S, "ttft_p95_s": TTFT_S, "tokens_per_s": TOKENS_PER_S,
                          "tokens_per_s_jitter": 0.0})
    catalog = {"as_of": document.get("as_of"), "prompt_formats": document["prompt_formats"],
               "models": {"gpt-4o-mini": base, MODEL: paced}}
    path = workdir / "bench-catalog.yaml"
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))
    return str(path)


def _server_config(catalog_path: str) -> dict:
    return {
        "latency": {"enable": True, "time_scale": 1.0},
        "rate_limiting": {"enable": False},  # 1000 requests at once would exceed any tier's RPM
        "error_injection": {"enable": False},
        "logging": {"request_log": False},
        "models": {"catalog": catalog_path},
    }


def _body(include_usage: bool) -> bytes:
    body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": MAX_TOKENS, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


def _calibrate(port: int) -> dict:
    """One stream with usage: prompt tokens and the number of content pieces, hence the exact ideal."""
    import httpx
    from sentra_openai.engine.realism.latency import PREFILL_SECONDS_PER_TOKEN

    with httpx.Client(timeout=30) as client:
        response = client.post(f"http://{harness.HOST}:{port}/v1/chat/completions", content=_body(True),
                               headers={"content-type": "application/json"})
    response.raise_for_status()
    pieces, usage = 0, None
    for line in response.text.splitlines():
        if not line.startswith("data: {"):
            continue
        chunk = orjson.loads(line[6:])
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk.get("choices", []):
            delta = choice.get("delta", {})
            if delta.get("content") and "role" not in delta:
                pieces += 1
    if usage is None:
        raise RuntimeError("calibration stream carried no usage chunk")
    # The plan has one piece per completion token (the prompt's answer is ASCII prose, so no token splits a
    # character). Counting content events instead would undercount: a late server merges due pieces into one event.
    tokens = usage["completion_tokens"]
    ttft = TTFT_S + usage["prompt_tokens"] * PREFILL_SECONDS_PER_TOKEN
    return {
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": tokens,
        "content_events_seen": pieces,
        "ideal_ttft_s": round(ttft, 6),
        "ideal_total_s": round(ttft + (tokens - 1) / TOKENS_PER_S, 6),
    }


def _summarize(results: list[stream_client.StreamResult], wall_s: float, ideal: dict) -> dict:
    ok = [r for r in results if r.error is None and r.status == 200]
    errors: dict[str, int] = {}
    for r in results:
        if r.error is not None or r.status != 200:
            key = (r.error or f"status {r.status}").split(" (")[0][:80]
            errors[key] = errors.get(key, 0) + 1
    ttft = [r.ttft_s for r in ok if r.ttft_s is not None]
    total = [r.total_s for r in ok if r.total_s is not None]
    gaps = [r.max_gap_s for r in ok]

    def stats(values: list[float], target: float) -> dict:
        p50, p99 = harness.percentile(values, 50), harness.percentile(values, 99)
        return {
            "p50_s": _r(p50), "p99_s": _r(p99), "max_s": _r(max(values) if values else None),
            "p50_error_pct": _pct(p50, target), "p99_error_pct": _pct(p99, target),
        }

    return {
        "streams": len(results),
        "completed": len(ok),
        "errors": errors,
        "wall_s": round(wall_s, 3),
        "ttft": stats(ttft, ideal["ideal_ttft_s"]),
        "total": stats(total, ideal["ideal_total_s"]),
        "events_per_stream_p50": harness.percentile([r.events for r in ok], 50),
        "worst_gap_p99_s": _r(harness.percentile(gaps, 99)),
        "median_total_within_10pct": bool(total) and abs(harness.percentile(total, 50) / ideal["ideal_total_s"] - 1) <= 0.10,
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _pct(value: float | None, target: float) -> float | None:
    return None if value is None else round((value / target - 1) * 100, 1)


def run(ctx, *, levels: tuple[int, ...] | None = None, processes: tuple[int, ...] | None = None,
        env: dict[str, str] | None = None) -> dict:
    levels = levels or ((100, 500) if ctx.quick else (100, 500, 1000))
    processes = processes or ((1,) if ctx.quick else (1, 2))
    catalog_path = _catalog(ctx.workdir)
    out: dict = {
        "what": f"concurrent paced streams of {MAX_TOKENS} tokens at {TOKENS_PER_S:g} tokens/s, ttft {TTFT_S} s, "
                "raw-socket asyncio client",
        "results": {},
    }
    for n in processes:
        server = harness.start_sentra(ctx.workdir, mode="default", processes=n, config=_server_config(catalog_path),
                                      name=f"sentra-stream-p{n}", env=env)
        try:
            ideal = _calibrate(server.port)
            out["ideal"] = ideal
            request = stream_client.build_request(harness.HOST, server.port, "/v1/chat/completions", _body(False))
            per_level = {}
            for concurrency in levels:
                peak = harness.PeakMemory(server)
                results, wall = stream_client.run_streams(harness.HOST, server.port, request, concurrency,
                                                          timeout=60.0, sample=peak.sample)
                summary = _summarize(results, wall, ideal)
                summary["peak_rss_mb_per_process"] = {str(pid): round(row["rss_mb"], 1)
                                                      for pid, row in sorted(peak.rows.items())}
                summary["threads_after"] = sum(row["threads"] for row in server.memory())
                per_level[str(concurrency)] = summary
                ctx.say(f"  streams N={n} x{concurrency}: total p50 {summary['total']['p50_s']} s "
                        f"({summary['total']['p50_error_pct']}% vs ideal {ideal['ideal_total_s']} s), "
                        f"ttft p50 {summary['ttft']['p50_s']} s, completed {summary['completed']}/{concurrency}")
            out["results"][f"processes_{n}"] = per_level
        finally:
            server.stop()
    return out

-- wrk script: POST a small non-streaming chat completion on every request, and print a JSON summary at the end
-- (exact percentiles in microseconds, error counts) that benches/loadgen.py parses.
-- No response() hook on purpose: defining one makes wrk parse every body, which costs the load generator CPU that
-- the server shares; wrk already counts statuses >= 400 in summary.errors.status.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-0001"
-- SENTRA_BENCH_BODY replaces the body (benches/loadgen.py: the Responses runs); the URL gives the path.
local default_body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Summarize the benefits of unit tests."}],"max_tokens":16}'
wrk.body = os.getenv("SENTRA_BENCH_BODY") or default_body

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end

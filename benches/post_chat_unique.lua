-- wrk script: like post_chat.lua, but every request asks something new, so no response can come from sentra-openai's
-- content cache and each one pays for text generation (the cost of a load test with varied prompts).
-- The counter starts from the clock, so consecutive wrk runs never repeat a prompt either.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-0001"

local counter = os.time() * 100000

function request()
  counter = counter + 1
  local body = string.format(
    '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Summarize the benefits of unit tests, case %d."}],' ..
    '"max_tokens":16}', counter)
  return wrk.format(nil, nil, nil, body)
end

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

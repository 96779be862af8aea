"""The throughput ceiling: a minimal Robyn endpoint that answers POST /v1/chat/completions with a fixed JSON body.

It runs Robyn the way sentra-openai's server does (python/sentra_openai/server/app.py): a sync handler (Robyn runs it
without an event-loop hop), 1 actix worker per process, WARN logging, no OpenAPI, and `--processes N`. The handler
parses the request body (any real endpoint must) and returns a body of the same shape and size as ours, so the gap
between this and sentra-openai is the cost of our per-request work, not of the framework.

    python benches/robyn_ceiling.py --port 8090 --processes 1
"""

from __future__ import annotations

import argparse
import sys

import orjson

# A chat.completion of the same shape and about the size sentra-openai returns for the benchmark's request.
BODY = orjson.dumps(
    {
        "id": "chatcmpl-CeilingCeilingCeilingCeilingCe",
        "object": "chat.completion",
        "created": 1795900000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Here is a short overview of everyday work. The natural framework and the clear outcome",
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": 16,
            "total_tokens": 25,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_9b08c174a3",
    },
    option=orjson.OPT_INDENT_2,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # `import robyn` parses sys.argv; leave it nothing of ours

    from robyn import Headers, Response, Robyn
    from robyn.argument_parser import Config

    config = Config()
    config.processes = args.processes
    config.workers = 1
    config.log_level = "WARN"
    config.disable_openapi = True
    app = Robyn(__file__, config=config)

    def chat(request):
        orjson.loads(request.body or b"{}")
        return Response(status_code=200, headers=Headers({"content-type": "application/json"}), description=BODY)

    def health(request):
        return Response(status_code=200, headers=Headers({"content-type": "application/json"}),
                        description=b'{"status":"ok"}')

    app.add_route("POST", "/v1/chat/completions", chat)
    app.add_route("GET", "/health", health)
    app.start(host=args.host, port=args.port, _check_port=False)


if __name__ == "__main__":
    main()

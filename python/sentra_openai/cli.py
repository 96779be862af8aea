"""Command line: our argv is parsed before Robyn is imported, because `import robyn` parses sys.argv itself."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .config import LOG_LEVELS, MODES, ConfigError, load_settings, with_overlay


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentra-openai",
        description="A production-realistic simulator of the OpenAI API.",
    )
    parser.add_argument("--version", action="version", version=f"sentra-openai {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the simulated OpenAI API server",
                                description="Run the simulated OpenAI API server.")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080; env PORT)")
    serve.add_argument("--config", metavar="FILE", help="YAML configuration file (env CONFIG_PATH)")
    serve.add_argument("--mode", choices=MODES, help="preset: default, production, fast or debug (env SENTRA_MODE)")
    serve.add_argument("--processes", type=int, help="number of server processes (default 1)")
    serve.add_argument("--seed", type=int, help="seed of every random draw (env SENTRA_SEED)")
    serve.add_argument("--metrics-port", type=int, help="Prometheus metrics port (default 9090; env METRICS_PORT)")
    serve.add_argument("--log-level", choices=LOG_LEVELS, help="log level (env LOG_LEVEL)")
    serve.add_argument("--record", metavar="DIR", help="proxy every /v1/ request to --upstream and write the "
                                                       "exchanges to DIR as fixtures")
    serve.add_argument("--upstream", metavar="URL", help="the OpenAI-compatible API to record from, e.g. "
                                                         "https://api.openai.com/v1")
    serve.add_argument("--replay", metavar="DIR", action="append",
                       help="answer from the fixtures recorded in DIR (before the configured fixtures)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            config_path=args.config,
            mode=args.mode,
            cli={
                "server.host": args.host,
                "server.port": args.port,
                "server.processes": args.processes,
                "seed": args.seed,
                "metrics.port": args.metrics_port,
                "logging.level": args.log_level,
                "recording.dir": args.record,
                "recording.upstream": args.upstream,
            },
        )
        if args.replay:
            missing = [folder for folder in args.replay if not os.path.isdir(folder)]
            if missing:
                raise ConfigError(f"--replay {missing[0]}: no such directory")
            paths = [os.path.abspath(folder) for folder in args.replay] + list(settings.fixtures.paths)
            settings = with_overlay(settings, {"fixtures": {"paths": paths}}, "command line")
    except ConfigError as exc:
        print(f"sentra-openai: error: {exc}", file=sys.stderr)
        return 2
    # Robyn's Config() parses sys.argv on import; leave it nothing of ours to misread.
    sys.argv = sys.argv[:1]
    from .server.app import serve

    return serve(settings)


if __name__ == "__main__":
    raise SystemExit(main())

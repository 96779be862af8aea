"""The image's HEALTHCHECK: GET /health on the port the server listens on, exit 0 when it answers 200.

The port is resolved as the server resolves it (defaults < SENTRA_MODE preset < CONFIG_PATH file < PORT), so a port
chosen by environment or config file is followed; a --port flag on the command line is not visible here.
"""

import sys
import urllib.request

from sentra_openai.config import ConfigError, load_settings


def main() -> int:
    try:
        port = load_settings().server.port
    except ConfigError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck: http://127.0.0.1:{port}/health: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

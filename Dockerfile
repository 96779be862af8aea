# sentra-openai as a container: the simulated OpenAI API on port 8080, Prometheus metrics on 9090.
#
#   docker build -t sentra-openai .
#   docker run --rm -p 127.0.0.1:8080:8080 -p 127.0.0.1:9090:9090 sentra-openai
#   docker run --rm -p 127.0.0.1:8080:8080 -e SENTRA_MODE=fast sentra-openai --processes 2   # flags are appended
#
# Settings come from the documented environment variables (PORT, METRICS_PORT, SENTRA_MODE, REDIS_URL,
# CONFIG_PATH, LOG_LEVEL, SENTRA_SEED) or from flags appended to the entrypoint. The image sets none of them, so a
# config file mounted at CONFIG_PATH is not overridden by an image default. Set the port through PORT or the config
# file rather than --port: the health check reads the same settings as the server, but not its command line.
#
# Base images are build arguments so that a build can use local or mirrored ones. To skip the Rust build (no
# toolchain or no crates.io), hand in a directory holding a prebuilt abi3 wheel; it replaces the `wheel` stage:
#   docker build --build-context wheel=./target/wheels -t sentra-openai .
# benches/container_check.py builds and checks the image that way with podman.

ARG BUILDER_IMAGE=rust:1-slim-bookworm
ARG RUNTIME_IMAGE=python:3.12-slim-bookworm

# ---- wheel-build: compile the abi3 wheel from source (maturin, through pip's PEP 517 build of pyproject.toml)
FROM ${BUILDER_IMAGE} AS wheel-build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/build
WORKDIR /src
# .dockerignore admits only what the wheel is made of (sources, config/, fixtures/, README.md).
COPY . .
# pyproject.toml pins maturin and sets `locked = true`, so Cargo.lock is honoured as in CI.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    /opt/build/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---- wheel: just the wheel file(s); `--build-context wheel=DIR` replaces this stage with DIR
FROM scratch AS wheel
COPY --from=wheel-build /wheels/ /

# ---- runtime: Python, the wheel with the `redis` extra, a non-root user; no compiler, no sources
FROM ${RUNTIME_IMAGE} AS runtime
LABEL org.opencontainers.image.title="sentra-openai" \
      org.opencontainers.image.description="A production-realistic simulator of the OpenAI API" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/sentra-openai/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The wheel is bind-mounted, not copied, so it leaves no layer behind. `[redis]` cannot follow a glob, hence `set --`.
RUN --mount=type=bind,from=wheel,target=/tmp/wheel \
    set -eu; set -- /tmp/wheel/sentra_openai-*.whl; \
    if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then echo "expected exactly one sentra_openai wheel, found: $*" >&2; exit 1; fi; \
    python3 -m venv /opt/sentra-openai \
 && /opt/sentra-openai/bin/pip install --no-cache-dir --disable-pip-version-check "$1[redis]" \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/sentra --shell /usr/sbin/nologin sentra
COPY deploy/container/healthcheck.py /opt/sentra-openai/healthcheck.py
USER 10001:10001
WORKDIR /home/sentra
EXPOSE 8080 9090
# Docker's default interval, not shorter: each probe is a request-log line (outside `fast` mode) and a request counted
# in the run's sequence, so the fewer the better.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/opt/sentra-openai/bin/python", "/opt/sentra-openai/healthcheck.py"]
# 0.0.0.0: inside its own network namespace the server must accept connections from outside the container; what
# reaches it is decided where the ports are published (`-p 127.0.0.1:8080:8080` keeps it on the host's loopback).
# On this bind the control API (/sentra/v1/) is off unless control.token is set (engine/endpoints/control.py).
ENTRYPOINT ["sentra-openai", "serve", "--host", "0.0.0.0"]

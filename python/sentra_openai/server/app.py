"""Starts the Robyn server around an engine: routes, supervised worker processes, signals and a bounded drain.

Robyn 0.88 quirks handled here (shared/reference/robyn-maturin.md §2): `import robyn` parses sys.argv (the CLI clears
it first); a single process ignores SIGTERM and a pool's parent SIGKILLs its workers (we run the workers ourselves,
each draining on SIGTERM); some malformed requests abort a whole process (a supervisor restarts the worker); and it
binds with SO_REUSEPORT, so a busy port is checked for first.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time

from ..config import Settings
from ..engine import MonotonicClock, build_engine
from .adapter import METHODS, make_handlers
from .inflight import InFlight

log = logging.getLogger("sentra_openai.server")
WORKER_CHECK_SECONDS = 0.2


def build_app(settings: Settings, inflight: InFlight):
    from robyn import Robyn
    from robyn.argument_parser import Config

    from ..observe import build_observer

    clock = MonotonicClock()
    engine = build_engine(settings, clock=clock, observer=build_observer(settings))
    handle_async, handle_sync = make_handlers(engine, clock, inflight)
    # A server that never waits answers from a sync handler: Robyn runs those without an event-loop hop.
    handler = handle_sync if not settings.latency.enable else handle_async

    config = Config()
    config.processes = settings.server.processes  # informational: _supervise starts the workers
    config.workers = 1
    config.log_level = "WARN"
    config.disable_openapi = True
    app = Robyn(__file__, config=config)
    for method in METHODS:
        app.add_route(method, "/", handler)
        app.add_route(method, "/*path", handler)
    _call_handlers_directly(app)
    return app, engine


def _call_handlers_directly(app) -> None:
    """Points Robyn's routes straight at our handlers. Robyn 0.88 wraps every handler in a dependency-injection shim
    that reads every request attribute (form data, files, identity, ...) on every call, even for a handler taking just
    the request; ours take the request and return a Response, so the shim is pure cost (about a quarter of the
    server's CPU per request: benches/)."""
    from robyn.robyn import FunctionInfo

    for index, route in enumerate(app.router.routes):
        info = route.function
        handler = info.handler.__wrapped__  # functools.wraps in robyn.router keeps the original
        app.router.routes[index] = route._replace(
            function=FunctionInfo(handler, info.is_async, info.number_of_params, info.args, info.kwargs)
        )


def serve(settings: Settings) -> int:
    from .. import metrics
    from ..observe import configure_logging, start_metrics_server

    configure_logging(settings)
    inflight = InFlight()
    _ensure_port_free(settings.server.host, settings.server.port)
    app, engine = build_app(settings, inflight)

    def warm_up_in_background() -> None:
        # Each serving process answers /health at once and loads the tokenizers meanwhile (a request that needs
        # one waits for it). After the fork, so no worker inherits a half-taken load lock.
        threading.Thread(target=engine.warm_up, name="sentra-warm-up", daemon=True).start()

    app.startup_handler(warm_up_in_background)
    start_metrics_server(settings)
    log.info(
        "sentra-openai listening on http://%s:%d (mode %s, %d process%s)",
        settings.server.host, settings.server.port, settings.mode, settings.server.processes,
        "" if settings.server.processes == 1 else "es",
    )
    on_exit = [engine.close, metrics.cleanup]
    return _supervise(app, settings, inflight, on_exit)


def _ensure_port_free(host: str, port: int) -> None:
    """Robyn binds with SO_REUSEPORT, so a second server on a busy port would start silently and steal part of the
    first one's connections. A plain bind fails loudly instead."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # SO_REUSEADDR lets closed connections in TIME_WAIT pass; a live listener still makes the bind fail.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"sentra-openai: error: cannot listen on {host}:{port}: {exc.strerror}") from None


def _install_signal_handlers(settings: Settings, inflight: InFlight, children: list, on_exit: list) -> threading.Event:
    """On SIGTERM/SIGINT: stop within drain_seconds, letting in-flight requests and streams finish first.

    The wait runs on its own thread: this handler runs on the main thread, which is also the thread of the event loop
    that drives async streams, so blocking here would freeze the very streams being drained.
    """
    stopping = threading.Event()

    def drain_and_exit() -> None:
        if children:
            for child in children:
                if child.is_alive() and child.pid:
                    os.kill(child.pid, signal.SIGTERM)
            deadline = time.monotonic() + settings.server.drain_seconds + 0.5
            for child in children:
                child.join(max(0.0, deadline - time.monotonic()))
                if child.is_alive():
                    child.kill()
        else:
            inflight.wait_idle(settings.server.drain_seconds)
        for release in on_exit:
            release()
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)

    def stop(_signum, _frame) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=drain_and_exit, name="sentra-drain", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stopping


def _end_with(supervisor: int) -> None:
    """Asks Linux to send this worker SIGTERM when the supervisor dies, even by SIGKILL, so no orphan keeps serving
    the port. Elsewhere workers outlive a killed supervisor, as Robyn's own do."""
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != supervisor:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _supervise(app, settings: Settings, inflight: InFlight, on_exit: list) -> int:
    """Runs the server in worker processes and starts a new worker whenever one dies.

    Robyn 0.88 aborts its whole process on some malformed requests (an invalid chunk size in a chunked body:
    shared/reference/robyn-maturin.md §2.6); under this supervisor such a request costs one worker a restart instead
    of taking the server down. Unlike Robyn's own pool, a signal is not answered with SIGKILL: the workers inherit
    our handler and drain themselves. Each worker binds its own listening socket (Robyn sets SO_REUSEPORT), so the
    kernel spreads connections over the workers; one shared socket lets whichever wakes first take nearly all.
    """
    from multiprocess import Process
    from robyn.processpool import spawn_process
    from robyn.robyn import SocketHeld

    host, port = settings.server.host, settings.server.port

    supervisor = os.getpid()

    def worker() -> None:
        # A worker drains its own requests on SIGTERM; it must not inherit the supervisor's forwarding handler.
        _install_signal_handlers(settings, inflight, children=[], on_exit=[])
        _end_with(supervisor)
        spawn_process(
            app.directories, app.request_headers, app.router.get_routes(),
            app.middleware_router.get_global_middlewares(), app.middleware_router.get_route_middlewares(),
            app.web_socket_router.get_routes(), app.event_handlers, SocketHeld(host, port), 1, app.response_headers,
            app.excluded_response_headers_paths,
        )

    def start() -> Process:
        process = Process(target=worker, name="sentra-worker")
        process.start()
        return process

    pool = [start() for _ in range(settings.server.processes)]
    stopping = _install_signal_handlers(settings, inflight, children=pool, on_exit=on_exit)
    while not stopping.is_set():
        time.sleep(WORKER_CHECK_SECONDS)
        for index, process in enumerate(pool):
            if not process.is_alive() and not stopping.is_set():
                log.warning("worker %s exited with code %s; starting a new one", process.pid, process.exitcode)
                pool[index] = start()
    while True:  # the drain thread ends the process
        time.sleep(1)

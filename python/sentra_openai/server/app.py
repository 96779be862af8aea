"""Starts the server around an engine: routes, supervised worker processes, the front layer, signals, a bounded drain.

Robyn 0.88 quirks handled here (shared/reference/robyn-maturin.md §2): `import robyn` parses sys.argv (the CLI clears
it first); a single process ignores SIGTERM and a pool's parent SIGKILLs its workers (we run the workers ourselves,
each draining on SIGTERM); malformed framing could abort a whole worker, silent connections were never closed and
keep-alive clients stayed on one worker (the front layer owns the public port: front.py); and a worker that dies
anyway is restarted by the supervisor.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sys
import threading
import time

from ..config import Settings
from ..engine import MonotonicClock, build_engine
from .adapter import METHODS, make_handler
from .inflight import InFlight
from .signals import drain_on_stop_signals

log = logging.getLogger("sentra_openai.server")
WORKER_CHECK_SECONDS = 0.2
WORKER_STOP_SECONDS = 2.0  # workers are idle by then: the front has drained their requests
WORKER_HOST = "127.0.0.1"  # workers are reached only through the front


def build_app(settings: Settings, inflight: InFlight):
    from robyn import Robyn
    from robyn.argument_parser import Config

    from ..observe import build_observer

    clock = MonotonicClock()
    engine = build_engine(settings, clock=clock, observer=build_observer(settings))
    handler = make_handler(engine, clock, inflight)

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
    from .front import bind_front

    reservations = [_reserve_loopback_port() for _ in range(settings.server.processes)]
    worker_ports = [reservation.getsockname()[1] for reservation in reservations]
    front_socket = bind_front(settings, worker_ports)  # first, so a busy port fails before anything starts
    app, engine = build_app(settings, inflight)

    def warm_up_in_background() -> None:
        # Each serving process answers /health at once and loads the tokenizers meanwhile (a request that needs
        # one waits for it). After the fork, so no worker inherits a half-taken load lock.
        def warm_up() -> None:
            engine.warm_up()
            _freeze_warm_heap()

        threading.Thread(target=warm_up, name="sentra-warm-up", daemon=True).start()

    app.startup_handler(warm_up_in_background)
    start_metrics_server(settings)
    log.info(
        "sentra-openai listening on http://%s:%d (mode %s, %d process%s)",
        settings.server.host, settings.server.port, settings.mode, settings.server.processes,
        "" if settings.server.processes == 1 else "es",
    )
    log.info("workers listen on %s", ", ".join(f"{WORKER_HOST}:{port}" for port in worker_ports))
    on_exit = [engine.close, metrics.cleanup]
    return _supervise(app, settings, inflight, front_socket, worker_ports, on_exit)


def _freeze_warm_heap() -> None:
    """Moves everything alive after warm-up (tokenizers, lexicon, rules, catalog: ~46k tracked objects in a worker)
    into the collector's permanent generation, so no later collection walks it again. Measured (issue 12): a full
    collection of that heap takes ~24 ms, holding the GIL; under wrk no collection runs at all (the request path frees
    what it allocates), but 1000 concurrent streams trigger about a hundred young ones and now and then a full one
    (67 ms, with the old per-chunk event-loop hops; 32 ms frozen), and freezing cut the GC time of such a batch from
    60 to 35 ms. Frozen objects are still freed by reference counting (only a cycle among them would stay), and the
    warm-up's live as long as the worker. Collected first, so the garbage of loading is not frozen with it."""
    gc.collect()
    gc.freeze()


def _install_signal_handlers(settings: Settings, inflight: InFlight, pool: list, front: list, on_exit: list) -> threading.Event:
    """On SIGTERM/SIGINT: stop within drain_seconds, letting in-flight requests and streams finish first.

    In the supervisor (`pool` and `front` set): the front process is told first, so the port closes at once and the
    requests in progress finish; only then are the idle workers stopped. In a worker: wait for its own requests.
    The wait runs on its own thread: this handler runs on the main thread, which is also the thread of the event loop
    that drives async streams, so blocking here would freeze the very streams being drained.
    """

    def stop_children(children: list, timeout: float) -> None:
        for child in children:
            if child.is_alive() and child.pid:
                os.kill(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                child.kill()

    def drain_and_exit() -> None:
        if pool:
            stop_children(front, settings.server.drain_seconds + 0.5)
            stop_children(pool, WORKER_STOP_SECONDS)
        else:
            inflight.wait_idle(settings.server.drain_seconds)
        for release in on_exit:
            release()
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)

    return drain_on_stop_signals(drain_and_exit, "sentra-drain")


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


def _supervise(app, settings: Settings, inflight: InFlight, front_socket, worker_ports: list[int], on_exit: list) -> int:
    """Runs the workers and the front process, and starts a new one whenever one dies.

    Each worker listens on its own loopback port; the front process owns the public port and forwards to them
    (front.py). A worker that dies (Robyn 0.88 can still abort on inputs the front lets through) is restarted on
    the same port while the front holds its clients' requests until a worker answers. Unlike Robyn's own pool, a
    signal is not answered with SIGKILL: every process drains itself.
    """
    from multiprocess import Process
    from robyn.processpool import spawn_process
    from robyn.robyn import SocketHeld

    from .. import metrics
    from .front import counts_replays, run_front

    supervisor = os.getpid()

    def worker(port: int) -> None:
        # A worker drains its own requests on SIGTERM; it must not inherit the supervisor's forwarding handler.
        # Its last metrics totals are written once its requests are done.
        _install_signal_handlers(settings, inflight, pool=[], front=[], on_exit=[metrics.flush])
        _end_with(supervisor)
        spawn_process(
            app.directories, app.request_headers, app.router.get_routes(),
            app.middleware_router.get_global_middlewares(), app.middleware_router.get_route_middlewares(),
            app.web_socket_router.get_routes(), app.event_handlers, SocketHeld(WORKER_HOST, port), 1,
            app.response_headers, app.excluded_response_headers_paths,
        )

    def front_main() -> None:
        _end_with(supervisor)
        run_front(front_socket, settings.server.drain_seconds,
                  count_replays=counts_replays(settings))

    def start_worker(port: int) -> Process:
        process = Process(target=worker, args=(port,), name="sentra-worker")
        process.start()
        return process

    def start_front() -> Process:
        process = Process(target=front_main, name="sentra-front")
        process.start()
        return process

    pool = [start_worker(port) for port in worker_ports]
    # The workers inherit the bound public socket but never accept on it; stop_accepting shuts the socket itself
    # down, whichever processes hold it.
    front = [start_front()]
    stopping = _install_signal_handlers(settings, inflight, pool=pool, front=front, on_exit=on_exit)
    while not stopping.is_set():
        time.sleep(WORKER_CHECK_SECONDS)
        for index, process in enumerate(pool):
            if not process.is_alive() and not stopping.is_set():
                log.warning("worker %s exited with code %s; starting a new one", process.pid, process.exitcode)
                pool[index] = start_worker(worker_ports[index])
        if not front[0].is_alive() and not stopping.is_set():
            log.warning("front process %s exited with code %s; starting a new one", front[0].pid, front[0].exitcode)
            front[0] = start_front()
    while True:  # the drain thread ends the process
        time.sleep(1)


def _reserve_loopback_port() -> socket.socket:
    """A port for one worker, held by the supervisor for the server's life; the worker keeps it across restarts.

    Robyn binds with SO_REUSEPORT, which lets any process of the same user that binds the same port share its
    connections. A port probed and released before the worker binds it could be taken in between, and the front
    would then forward part of its requests to a stranger (seen once in CI: an HTTP proxy's 405 answered a chat
    request). This socket is bound with SO_REUSEPORT too but never listens, so it takes no connections; a
    worker's bind joins it, an ordinary bind is refused, and the kernel hands the port to no other process.
    """
    reservation = socket.socket()
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reservation.bind((WORKER_HOST, 0))
    return reservation

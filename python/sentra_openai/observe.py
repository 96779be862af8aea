"""Wires the per-request Record into metrics and the request log, as configured."""

from __future__ import annotations

from .config import Settings
from .engine.core import Observer, Record


class Fanout(Observer):
    def __init__(self, observers: list) -> None:
        self.observers = observers

    def observe(self, record: Record) -> None:
        for observer in self.observers:
            observer.observe(record)


def configure_logging(settings: Settings) -> None:
    from . import logs

    logs.configure(settings.logging.level)


def build_observer(settings: Settings) -> Observer:
    observers: list = []
    if settings.metrics.enable:
        from . import metrics

        metrics.prepare()
        observers.append(metrics.Metrics())
    if settings.logging.request_log:
        from .logs import RequestLogger

        observers.append(RequestLogger())
    return Fanout(observers)


def start_metrics_server(settings: Settings) -> None:
    if settings.metrics.enable:
        from . import metrics

        metrics.start_server(settings.metrics.port, settings.server.host)

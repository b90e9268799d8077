"""The daemon's counters, and their Prometheus text exposition (``GET /metrics``).

Kept by hand (a few counters and one histogram) rather than with prometheus_client: the
daemon is one process with one event loop, so plain dicts updated on the loop are exact.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lspfeedback._report import Report

if TYPE_CHECKING:  # only annotations: importing this module stays light
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

ROUTES = frozenset({
    "/v1/verify", "/v1/verify/progressive", "/v1/candidates", "/v1/commit", "/v1/discard",
    "/v1/diagnostics",
    "/v1/health", "/metrics", "/openapi.json",
})
"""Paths that get their own label; anything else is counted as ``other`` (bounded labels)."""

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds of the latency histogram, in seconds."""


@dataclass
class Histogram:
    """Cumulative-bucket histogram, the Prometheus way."""

    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: int = 0
    sum: float = 0.0

    def observe(self, value: float) -> None:
        for index, bound in enumerate(BUCKETS):
            if value <= bound:
                self.counts[index] += 1
        self.total += 1
        self.sum += value


class Metrics:
    """Requests by route, method and status; latency by route; reports by status, unknowns and
    stand-ins by server. Server restarts, give-ups and gauges are read from the daemon when
    rendering."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.latency: dict[str, Histogram] = {}
        self.reports: Counter[str] = Counter()
        self.unknown: Counter[str] = Counter()
        self.degraded: Counter[str] = Counter()

    def __repr__(self) -> str:
        requests, reports = sum(self.requests.values()), sum(self.reports.values())
        return f"<Metrics requests={requests} reports={reports}>"

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests[route, method, status] += 1
        self.latency.setdefault(route, Histogram()).observe(seconds)

    def observe_report(self, report: Report) -> None:
        self.reports[report.status] += 1
        for unknown in report.unknown:
            self.unknown[unknown.server] += 1
        for degraded in report.degraded:
            self.degraded[degraded.server] += 1

    def render(self, *, restarts: Iterable[tuple[str, str, int, int]], sessions: int,
               in_flight: int, uptime: float) -> str:
        """The exposition text. ``restarts`` are (replica, server, restarts, give-ups)."""
        out: list[str] = []

        def family(name: str, kind: str, doc: str) -> None:
            out.append(f"# HELP {name} {doc}")
            out.append(f"# TYPE {name} {kind}")

        def sample(name: str, value: float, **labels: object) -> None:
            out.append(f"{name}{_labels(labels)} {value}")  # never :g, it rounds big counts

        family("lspfeedback_requests_total", "counter", "HTTP requests by route, method, status.")
        for (route, method, status), count in sorted(self.requests.items()):
            sample("lspfeedback_requests_total", count, route=route, method=method, status=status)
        name = "lspfeedback_request_duration_seconds"
        family(name, "histogram", "HTTP request latency.")
        for route, hist in sorted(self.latency.items()):
            for bound, count in zip(BUCKETS, hist.counts, strict=True):
                sample(f"{name}_bucket", count, route=route, le=f"{bound:g}")
            sample(f"{name}_bucket", hist.total, route=route, le="+Inf")
            sample(f"{name}_sum", round(hist.sum, 6), route=route)
            sample(f"{name}_count", hist.total, route=route)
        family("lspfeedback_reports_total", "counter", "Reports returned, by status.")
        for status in ("clean", "errors", "unknown"):
            sample("lspfeedback_reports_total", self.reports[status], status=status)
        family("lspfeedback_unknown_total", "counter",
               "Servers that could not give a fresh answer in a report, by server.")
        for server, count in sorted(self.unknown.items()):
            sample("lspfeedback_unknown_total", count, server=server)
        family("lspfeedback_degraded_total", "counter",
               "Reports in which stand-ins answered for a server, by the server stood in for.")
        for server, count in sorted(self.degraded.items()):
            sample("lspfeedback_degraded_total", count, server=server)
        rows = sorted(restarts)
        family("lspfeedback_server_restarts_total", "counter",
               "Server restarts after a crash, a failed start or a hang.")
        for replica, server, count, _ in rows:
            sample("lspfeedback_server_restarts_total", count, replica=replica, server=server)
        family("lspfeedback_server_give_ups_total", "counter",
               "Times a server reached the crash cap and was given up on (state failed).")
        for replica, server, _, gave_up in rows:
            sample("lspfeedback_server_give_ups_total", gave_up, replica=replica, server=server)
        family("lspfeedback_sessions", "gauge", "Named sessions holding overlays.")
        sample("lspfeedback_sessions", sessions)
        family("lspfeedback_requests_in_flight", "gauge", "Requests waiting for or in the engine.")
        sample("lspfeedback_requests_in_flight", in_flight)
        family("lspfeedback_uptime_seconds", "gauge", "Seconds since the daemon started.")
        sample("lspfeedback_uptime_seconds", round(uptime, 3))
        return "\n".join(out) + "\n"


def _labels(labels: dict[str, object]) -> str:
    if not labels:
        return ""
    escaped = (str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               for v in labels.values())
    return "{" + ",".join(f'{k}="{v}"' for k, v in zip(labels, escaped, strict=True)) + "}"


class MetricsMiddleware:
    """ASGI middleware counting every HTTP request, refused ones (401/403/413) included."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    def __repr__(self) -> str:
        return f"<MetricsMiddleware {self.metrics!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app raises before answering

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope["path"] if scope["path"] in ROUTES else "other"
            self.metrics.observe_request(route, scope["method"], status,
                                         time.perf_counter() - started)

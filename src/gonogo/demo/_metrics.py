"""The demo API's Prometheus metrics, counted in front of the app so errors are counted too."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "MetricsMiddleware"]


class Metrics:
    """Request counters and latency histograms, in a registry of their own.

    Labels carry the route template, never the raw path: `/api/v1/items/<id>` would
    otherwise create one time series per item.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "path", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "path"],
            registry=self.registry,
        )
        # process_cpu_seconds_total and process_resident_memory_bytes: the documents' CPU and
        # memory alert rules read them.
        ProcessCollector(registry=self.registry)


class MetricsMiddleware:
    """Pure ASGI so the status code comes from the response actually sent."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status_code = 500  # what the client gets if the app raises before answering
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "<unmatched>"
            method = scope["method"]
            self.metrics.requests.labels(method, path, str(status_code)).inc()
            self.metrics.duration.labels(method, path).observe(time.perf_counter() - started)

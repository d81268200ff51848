"""What wraps every request: an id, a one-line log entry, Prometheus metrics, and a size limit on
the body that is enforced while the body arrives (not after it has been read).

Both are plain ASGI middleware so that streamed responses (server-sent events) are measured to
their last byte and nothing is buffered.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

access_log = logging.getLogger("fouassist.access")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class BodyTooLarge(Exception):
    pass


class Metrics:
    """Request counts and latencies by route, and the index size, in one registry per app."""

    def __init__(self, index_size: Callable[[], dict]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("fouassist_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("fouassist_request_seconds", "HTTP request duration (to the last byte)",
                                 ["method", "route"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_IndexCollector(index_size))


class _IndexCollector:
    def __init__(self, index_size: Callable[[], dict]) -> None:
        self.index_size = index_size

    def collect(self):
        health = self.index_size()
        yield GaugeMetricFamily("fouassist_documents", "Documents in the index", value=health["documents"])
        yield GaugeMetricFamily("fouassist_chunks", "Chunks in the index", value=health["chunks"])
        yield GaugeMetricFamily("fouassist_dense_enabled", "1 when dense search is on",
                                value=1.0 if health["dense"]["enabled"] else 0.0)


def _route(scope: dict) -> str:
    """The route template ("/v1/documents/{document_id}"), so that ids do not become labels."""
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return route.path
    path = scope.get("path", "")
    return "/ui" if path.startswith("/ui") else "other"


class RequestMiddleware:
    """Request id, access log line and metrics for every HTTP request."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex[:16]
        started = time.perf_counter()
        status = 500

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            route = _route(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(duration)
            access_log.info(json.dumps({
                "request_id": request_id, "method": scope["method"], "path": scope.get("path", ""),
                "status": status, "duration_ms": round(duration * 1000, 1),
                "client": (scope.get("client") or ("?",))[0],
            }))


class BodyLimitMiddleware:
    """Refuse a body over the limit with 413, from its declared length or as soon as the bytes
    received pass the limit; uploads may have `upload_mb` (plus room for the form around the
    file), everything else `other_mb`."""

    def __init__(self, app, upload_mb: int, other_mb: int, upload_paths: tuple[str, ...]) -> None:
        self.app = app
        self.upload_mb = upload_mb
        self.other_mb = other_mb
        self.upload_paths = upload_paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        upload = scope.get("path", "").startswith(self.upload_paths)
        megabytes = self.upload_mb if upload else self.other_mb
        limit = megabytes * 1024 * 1024 + (64 * 1024 if upload else 0)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_too_large(send, megabytes, upload)
            return
        received = 0
        response_started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await send_too_large(send, megabytes, upload)


class ClientLimiter:
    """Per-client limits by name ("ask", "feedback", "upload", ...), each a moving window in memory
    (the `limits` library). One limiter serves the API's routes and the web interface's events,
    so that both doors draw on the same allowance."""

    def __init__(self, rules: dict[str, str]) -> None:
        from limits import parse, storage, strategies

        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self.rules = {name: parse(limit) for name, limit in rules.items() if limit.strip()}  # empty: no limit

    def hit(self, name: str, client: str) -> int | None:
        """Count one request; None when within the limit, else the seconds until it may try again."""
        limit = self.rules.get(name)
        if limit is None or self._limiter.hit(limit, name, client):
            return None
        reset = self._limiter.get_window_stats(limit, name, client).reset_time
        return max(1, math.ceil(reset - time.time()))

    def describe(self, name: str) -> str:
        return str(self.rules[name])


class RateLimitMiddleware:
    """The limiter on the routes that cost the most or that anyone may call. Over the limit: 429
    with Retry-After. Clients are told apart by their address (behind a proxy, only when
    FOUASSIST_TRUSTED_PROXIES names it)."""

    def __init__(self, app, limiter: ClientLimiter, routes: list[tuple[tuple[str, ...], tuple[str, ...], str]]) -> None:
        self.app = app
        self.limiter = limiter
        self.routes = routes  # (path prefixes, methods, rule name); the first match counts

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            path, method = scope.get("path", ""), scope["method"]
            for prefixes, methods, name in self.routes:
                if method in methods and path.startswith(prefixes):
                    retry_after = self.limiter.hit(name, client_address(scope))
                    if retry_after is not None:
                        await _too_many(send, self.limiter.describe(name), retry_after)
                        return
                    break
        await self.app(scope, receive, send)


def client_address(scope: dict) -> str:
    return (scope.get("client") or ("unknown",))[0]


def key_matches(authorization: str, key: str) -> bool:
    """Whether an Authorization header carries `Bearer <key>` (compared in constant time)."""
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), key.encode())


class CrossSiteGuard:
    """A change (POST, PUT, PATCH, DELETE) sent by a page of another site is refused: a form post
    is a 'simple' request that CORS does not stop, and without a key nothing else would. Requests
    without an Origin header (curl, servers, the OpenAI clients) are not browsers' and pass."""

    def __init__(self, app, allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed = set(allowed_origins)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            headers = dict(scope.get("headers") or [])
            origin = headers.get(b"origin", b"").decode("latin-1")
            host = headers.get(b"host", b"").decode("latin-1")
            if origin and origin != "null" and origin.split("://", 1)[-1] != host and origin not in self.allowed:
                message = f"a change sent from another site ({origin}) is refused; allow it in FOUASSIST_CORS_ORIGINS"
                await send_json(send, 403, {"message": message, "detail": message})
                return
            if origin == "null":
                message = "a change sent from an opaque origin (a sandboxed page or a file) is refused"
                await send_json(send, 403, {"message": message, "detail": message})
                return
        await self.app(scope, receive, send)


async def _too_many(send, limit, retry_after: int) -> None:
    message = (f"too many requests from this address (the limit is {limit}); "
               f"try again in {retry_after} s")
    await send_json(send, 429, {"message": message, "detail": message}, [(b"retry-after", str(retry_after).encode())])


async def send_json(send, status: int, content: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send_body(send, status, json.dumps(content).encode(), b"application/json", headers)


async def send_body(send, status: int, body: bytes, media_type: bytes,
                headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", media_type), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def send_too_large(send, megabytes: int, upload: bool) -> None:
    message = f"{'the upload' if upload else 'the request body'} is larger than the limit of {megabytes} MB"
    await send_json(send, 413, {"message": message, "detail": message}, [(b"connection", b"close")])

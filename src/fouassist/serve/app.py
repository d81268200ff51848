"""The HTTP API (FastAPI): ask, retrieve, documents, feedback, health, and an OpenAI-compatible chat.

`create_app(service)` builds the app around a service that was built once from settings: the
middleware that bounds every request, the error answers, and the routes of each area (in
`routes/`). The routes are thin: validate, call the service, shape the response.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from fouassist import __version__
from fouassist.config import ServerSettings
from fouassist.serve.errors import add_error_handlers
from fouassist.serve.interface_gate import NO_INTERFACE, UI_API, WebInterfaceGate
from fouassist.serve.middleware import (
    BodyLimitMiddleware,
    ClientLimiter,
    CrossSiteGuard,
    Metrics,
    RateLimitMiddleware,
    RequestMiddleware,
)
from fouassist.serve.routes import chat, documents, feedback, questions
from fouassist.serve.routes import service as service_routes
from fouassist.service import Service

UPLOAD_PATHS = ("/v1/documents", UI_API + "upload")
ASK_PATHS = ("/v1/ask", "/v1/retrieve", "/v1/chat/completions")

Extension = Callable[[FastAPI, AsyncExitStack], Awaitable[None]]


def create_app(service: Service, extensions: Sequence[Extension] = ()) -> FastAPI:
    """The API around `service`. Each extension runs as a task once the server is up (the web
    interface mounts itself that way, so that its slow import does not delay the API)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with AsyncExitStack() as stack:
            tasks = [asyncio.create_task(extension(app, stack)) for extension in extensions]
            yield
            for task in tasks:
                task.cancel()

    app = FastAPI(
        title="fouassist",
        version=__version__,
        description="Cited answers from Swedish and Norwegian healthcare R&D strategy documents.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.ui = "off"
    app.state.interface_events = NO_INTERFACE  # what the web interface's gate knows, once it is mounted
    app.state.metrics = Metrics(lambda: service.health(check_model=False))
    app.state.server = service.settings.server  # the server's section, read once for every request
    _add_middleware(app, app.state.server)
    add_error_handlers(app)
    for routes in (service_routes, questions, documents, feedback, chat):
        app.include_router(routes.router)
    return app


def _add_middleware(app: FastAPI, settings: ServerSettings) -> None:
    """The stack from the inside out: the last added sees a request first."""
    app.add_middleware(BodyLimitMiddleware, upload_mb=settings.max_upload_mb, other_mb=settings.max_request_mb,
                       upload_paths=UPLOAD_PATHS)
    # Always present, even with no origin allowed: the web interface (Gradio) then follows it
    # instead of its own rule, which trusts any localhost origin.
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                       allow_headers=["Authorization", "Content-Type", "X-Request-ID"])
    app.state.limiter = limiter = ClientLimiter({
        "ask": settings.rate_limit_ask, "feedback": settings.rate_limit_feedback,
        "upload": settings.rate_limit_upload, "ui": settings.rate_limit_ui_events, "login": settings.rate_limit_login,
    })
    app.add_middleware(RateLimitMiddleware, limiter=limiter, routes=[
        (ASK_PATHS, ("POST",), "ask"),
        (("/v1/feedback",), ("POST",), "feedback"),
        (UPLOAD_PATHS, ("POST",), "upload"),
        (("/ui/login",), ("POST",), "login"),  # the interface's login, when reads need the key
        ((UI_API,), ("POST",), "ui"),  # each event of the interface; its questions and feedback count as above too
    ])
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    app.add_middleware(WebInterfaceGate, api_key=api_key, interface=lambda: app.state.interface_events,
                       max_body_mb=settings.max_request_mb)
    app.add_middleware(CrossSiteGuard, allowed_origins=settings.cors_origins)
    app.add_middleware(RequestMiddleware, metrics=app.state.metrics)

"""The service's own routes: health and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fouassist.serve.dependencies import ServiceDep
from fouassist.serve.schemas import HealthResponse

router = APIRouter(tags=["service"])


@router.get("/metrics", response_class=PlainTextResponse, responses={200: {"content": {"text/plain": {}}}})
def prometheus_metrics(request: Request) -> Response:
    """Request counts and latency histograms by route, and the index size (Prometheus text format)."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/health", response_model=HealthResponse)
async def health(request: Request, service: ServiceDep) -> dict[str, Any]:
    """Index size, whether dense (semantic) search is on and if not why, and whether the web
    interface is `ready`, `starting`, `off` or `failed`. It runs in a thread of its own pool,
    so that questions filling the request threads never keep it from answering."""
    return {**await asyncio.to_thread(service.health), "ui": request.app.state.ui}

"""The web interface (Gradio), installed as the package `fouassist_ui`.

Importing this package is cheap; Gradio itself (seconds to import) loads in the background
through `serve_ui_when_ready`, once the server already answers API requests.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

log = logging.getLogger(__name__)

STARTING_PAGE = """<!doctype html><html lang="sv"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>fouassist</title></head><body style="font-family:sans-serif;margin:3em">
<p>Gränssnittet startar – sidan laddas om av sig själv. / Grensesnittet starter – siden lastes inn på nytt.</p>
</body></html>"""


FAILED_PAGE = """<!doctype html><html lang="sv"><head><meta charset="utf-8"><title>fouassist</title></head>
<body style="font-family:sans-serif;margin:3em"><p>Gränssnittet kunde inte starta; API:t fungerar. Serverns logg
berättar varför. / Grensesnittet kunne ikke starte; API-et fungerer. Serverens logg forteller hvorfor.</p>
</body></html>"""


def serve_ui_when_ready(service):
    """An API extension: answer /ui with a page that reloads itself, import and mount Gradio in the
    background, then run its start-up as `mount_gradio_app` would have in the lifespan."""

    async def extension(app: FastAPI, stack: AsyncExitStack) -> None:
        @app.get("/", include_in_schema=False)
        @app.get("/ui", include_in_schema=False)
        def root(request: Request) -> RedirectResponse:
            """The address people type: the interface itself lives under /ui/."""
            query = request.url.query
            return RedirectResponse("/ui/" + (f"?{query}" if query else ""))

        @app.get("/ui/{path:path}", include_in_schema=False)
        def starting(path: str = "") -> HTMLResponse:
            """Until Gradio is mounted in front of it: a page that reloads itself (or says it failed)."""
            failed = app.state.ui == "failed"
            return HTMLResponse(FAILED_PAGE if failed else STARTING_PAGE, status_code=503,
                                headers={} if failed else {"Retry-After": "2"})

        app.state.ui = "starting"
        try:
            module = await asyncio.to_thread(__import__, "fouassist_ui.app", fromlist=["mount_on_running_app"])
            blocks = await asyncio.to_thread(module.build_queued, service, app.state.limiter)
            gradio_app = module.mount_on_running_app(app, service, blocks)
            await stack.enter_async_context(gradio_app.router.lifespan_context(gradio_app))
            blocks = gradio_app.get_blocks()
            blocks.run_startup_events()
            await blocks.run_extra_startup_events()
        except Exception:
            log.exception("The web interface could not start; the API still serves")
            app.state.ui = "failed"
            return
        app.state.ui = "ready"
        log.info("Web interface ready at /ui")

    return extension

"""The web side of the dashboard: a Starlette app over one store, read-only.

Pages are HTML shells whose script (static/app.js) fetches /api/... JSON and writes every
string with ``textContent``, so a name from a store is never markup. /events is a
server-sent-event stream: one watcher polls the store's ``data_version`` and tells each open
page when another process committed, and the page fetches the one view it shows again.
"""

from __future__ import annotations

import asyncio
import html
import json
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sweeplab.serve import source
from sweeplab.store import Store, StoreError

STATIC = Path(__file__).with_name("static")
WATCH_S = 0.25  # how often the watcher asks SQLite whether anything was committed
HEARTBEAT_S = 15.0  # an SSE comment this often keeps proxies and idle timers from closing
RETRY_MS = 1000  # how soon a page reconnects after the server went away


class Watcher:
    """Counts commits to the store by any process (SQLite's ``PRAGMA data_version``
    changes on this connection whenever another connection commits)."""

    def __init__(self, path: Path):
        self.path = path
        self.version = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sweeplab-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        with Store(self.path, readonly=True) as store:
            last = None
            while not self._stop.wait(WATCH_S):
                try:
                    now = store.data_version()
                except sqlite3.Error:
                    continue  # busy or a checkpoint under way: ask again next tick
                if last is not None and now != last:
                    self.version += 1
                last = now


class Views:
    """The JSON views, cached per store version (50 pages opened at once compute once)."""

    def __init__(self, res: Any, watcher: Watcher):
        self.res = res
        self.watcher = watcher
        self._lock = threading.Lock()
        self._cache: dict[tuple, Any] = {}
        self._version = -1

    def warm(self) -> None:
        try:
            for row in self.get("studies"):
                self.get("study", row["study"], "test_acc")
        except Exception:  # noqa: BLE001 (a page asking later gets the error in words)
            pass

    def get(self, kind: str, *args: Any) -> Any:
        key = (kind, *args)
        with self._lock:
            if self._version != self.watcher.version:
                self._cache.clear()
                self._version = self.watcher.version
            if key in self._cache:
                return self._cache[key]
            value = getattr(source, kind)(self.res, *args)
            self._cache[key] = value
            return value


@lru_cache(maxsize=1)
def plotly_js() -> bytes:
    """Plotly's JavaScript from the Python package: the page loads nothing off the machine."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode()


def _shell(title: str, page: str, params: dict[str, Any]) -> HTMLResponse:
    """A page: its title escaped, its parameters as JSON in a data attribute (escaped)."""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/plotly.js"></script>
</head><body data-page="{page}" data-params="{html.escape(json.dumps(params))}">
<header><a href="/">sweeplab</a> <span id="live" class="live off">connecting</span></header>
<main id="main"><p class="muted">loading...</p></main>
<script src="/static/app.js"></script>
</body></html>"""
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def create_app(res: Any, host: str = "127.0.0.1") -> Starlette:
    """The dashboard over the store behind ``res`` (a ``sweeplab.open(...)`` Results).

    On a loopback address only requests naming this machine are answered (a web page that
    re-points its own name at 127.0.0.1, DNS rebinding, gets 400 and cannot read the store).
    """
    watcher = Watcher(res.path)
    views = Views(res, watcher)

    def api(kind: str, *args: Any) -> Response:
        try:
            return JSONResponse(views.get(kind, *args), headers={"Cache-Control": "no-store"})
        except (ValueError, StoreError, KeyError) as err:
            return JSONResponse({"error": str(err)}, status_code=404)
        except sqlite3.Error as err:  # e.g. busy while a writer commits: the next change retries
            return JSONResponse({"error": f"the store could not be read now ({err})"},
                                status_code=503)

    async def index(request: Request) -> Response:
        return _shell("sweeplab: studies", "studies", {})

    async def study_page(request: Request) -> Response:
        name = request.query_params.get("name", "")
        return _shell(f"sweeplab: {name}", "study", {"name": name})

    async def run_page(request: Request) -> Response:
        p = dict(request.query_params)
        return _shell(f"sweeplab: {p.get('study', '')} seed {p.get('seed', '')}", "run", p)

    def api_studies(request: Request) -> Response:
        return api("studies")

    def api_study(request: Request) -> Response:
        p = request.query_params
        return api("study", p.get("name", ""), p.get("metric", "test_acc"))

    def api_search(request: Request) -> Response:
        return api("search", request.query_params.get("name", ""))

    def api_outcomes(request: Request) -> Response:
        return api("outcomes", request.query_params.get("name", ""))

    def api_runs(request: Request) -> Response:
        p = request.query_params
        return api("run_curves", p.get("study", ""), p.get("config", ""))

    def api_compare(request: Request) -> Response:
        p = request.query_params
        return api("compare", p.get("study", ""), p.get("a", ""), p.get("b", ""),
                   p.get("metric", "test_acc"))

    def api_run(request: Request) -> Response:
        p = request.query_params
        try:
            seed = int(p.get("seed", ""))
        except ValueError:
            return JSONResponse({"error": "seed must be an integer"}, status_code=400)
        return api("run", p.get("study", ""), p.get("config", ""), seed)

    async def events(request: Request) -> Response:
        async def stream():
            yield f"retry: {RETRY_MS}\nevent: hello\ndata: {watcher.version}\n\n"
            seen, quiet = watcher.version, 0.0
            server = getattr(request.app.state, "server", None)  # ends streams on Ctrl-C
            while not (server is not None and server.should_exit) \
                    and not await request.is_disconnected():
                await asyncio.sleep(WATCH_S)
                quiet += WATCH_S
                if watcher.version != seen:
                    seen, quiet = watcher.version, 0.0
                    yield f"event: change\ndata: {seen}\n\n"
                elif quiet >= HEARTBEAT_S:
                    quiet = 0.0
                    yield ": still here\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.js":
            return Response(plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "max-age=86400"})
        if name not in ("app.js", "app.css"):
            return Response("not found", status_code=404)
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return Response((STATIC / name).read_bytes(), media_type=kind,
                        headers={"Cache-Control": "no-cache"})

    routes = [Route("/", index), Route("/study", study_page), Route("/run", run_page),
              Route("/api/studies", api_studies), Route("/api/study", api_study),
              Route("/api/search", api_search), Route("/api/outcomes", api_outcomes),
              Route("/api/runs", api_runs),
              Route("/api/compare", api_compare),
              Route("/api/run", api_run), Route("/events", events),
              Route("/static/{name}", static),
              Route("/favicon.ico", lambda request: Response(status_code=204))]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        watcher.start()
        # import pandas/scipy and fill the cache now rather than on the first page
        threading.Thread(target=views.warm, name="sweeplab-warm", daemon=True).start()
        yield
        watcher.stop()

    hosts = [*LOOPBACK_NAMES, "[::1]"] if host in LOOPBACK_NAMES else ["*"]
    return Starlette(routes=routes, lifespan=lifespan,
                     middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)])

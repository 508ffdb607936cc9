"""``sweeplab serve``: a live dashboard over a ``sweeplab.open(path)`` Results (extra
``sweeplab[serve]``), on 127.0.0.1 unless told otherwise; it never writes the store. Imports
no :mod:`sweeplab.api`: the API calls it, not the other way round.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from sweeplab.errors import FieldError
from sweeplab.extras import missing_extra

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class ServeError(FieldError):
    """The dashboard cannot start: one line saying why."""


def _modules() -> tuple[Any, Any]:
    try:
        import uvicorn

        from sweeplab.serve.app import create_app
    except ImportError as err:
        raise ServeError(missing_extra("the dashboard", err.name or "its web server", "serve")
                         ) from None
    return uvicorn, create_app


def server(res: Any, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> Any:
    """A ``uvicorn.Server`` for the dashboard over ``res`` (a ``sweeplab.open(...)``
    Results), not yet started.

    Raises:
        ServeError: the serve extra is not installed, a port out of range or in use.
    """
    if not 1 <= port <= 65535:
        raise ServeError(f"port must be in 1..65535. Received: port={port}")
    uvicorn, create_app = _modules()
    try:  # a port in use is one line now, not a log record from inside uvicorn
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.create_server((host, port), family=family):
            pass
    except OSError as err:
        raise ServeError.about("cannot listen on {host} port {p} ({why}); pass {port} with "
                               "another port", host=host, p=port, why=os.strerror(err.errno)
                               ) from None
    config = uvicorn.Config(create_app(res, host), host=host, port=port, log_level="warning",
                            timeout_graceful_shutdown=1)  # open event streams end at once
    srv = uvicorn.Server(config)
    config.app.state.server = srv  # the event streams end when the server is told to stop
    return srv


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


def serve(res: Any, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          say: Callable[[str], None] = print) -> Any:
    """Serve the dashboard. In a Jupyter kernel: in a background thread, returning an
    inline IFrame of it; elsewhere: until Ctrl-C.

    Raises:
        ServeError: before listening.
    """
    srv = server(res, host, port)
    name = "127.0.0.1" if host == "localhost" else f"[{host}]" if ":" in host else host
    url = f"http://{name}:{port}/"
    if host not in ("127.0.0.1", "localhost", "::1"):  # app.LOOPBACK_NAMES
        say(f"warning: listening on {host}: anyone who can reach port {port} of this machine "
            "can read every study in the store (read-only, no login)")
    if _in_notebook():
        threading.Thread(target=srv.run, name="sweeplab-serve", daemon=True).start()
        from IPython.display import IFrame

        return IFrame(url, width="100%", height=720)
    say(f"dashboard on {url} (read-only; Ctrl-C stops)")
    try:
        srv.run()
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C again once it has stopped
        pass
    say("stopped")
    return None


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ServeError", "serve", "server"]

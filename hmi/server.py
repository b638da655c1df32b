"""Run the HMI app with uvicorn in a background thread, on a socket bound before start.

The socket is bound and listening before the thread starts, so the URL is valid at once; the
first requests wait in the backlog until the app's start-up has run (``HmiContext.ready``).
"""

from __future__ import annotations

import logging
import socket
import threading

import uvicorn
from fastapi import FastAPI

from hmi.context import HmiContext

logger = logging.getLogger(__name__)


class HmiServer:
    def __init__(self, app: FastAPI, *, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning") -> None:
        self.app = app
        self.ctx: HmiContext = app.state.hmi
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.host, self.port = self.sock.getsockname()[:2]
        config = uvicorn.Config(app, log_level=log_level, lifespan="on", http="h11", ws="none",
                                timeout_graceful_shutdown=3, access_log=False)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 30.0) -> HmiServer:
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                        name="hmi-server", daemon=True)
        self._thread.start()
        if not self.ctx.ready.wait(timeout):
            raise RuntimeError(f"the HMI did not start within {timeout:.0f} s")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.ctx.close_streams()  # live streams would hold the graceful shutdown open
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self.server.force_exit = True
                self._thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> HmiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

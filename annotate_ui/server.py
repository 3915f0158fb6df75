"""Serving the app: waitress in production (``curate serve``), in a thread for tests and the demo."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, Iterator

log = logging.getLogger(__name__)


def serve_forever(app: Any, host: str, port: int, threads: int) -> None:
    """Run waitress (a production WSGI server) until interrupted."""
    from waitress import serve

    serve(app, host=host, port=port, threads=threads, ident="curate", connection_limit=1000,
          channel_timeout=120, clear_untrusted_proxy_headers=True)


@contextlib.contextmanager
def running_server(app: Any, host: str = "127.0.0.1", port: int = 0, threads: int = 16) -> Iterator[str]:
    """A waitress server in a background thread; yields its base URL and stops it on exit."""
    from waitress import wasyncore
    from waitress.server import create_server

    server = create_server(app, host=host, port=port, threads=threads, ident="curate", connection_limit=1000)
    thread = threading.Thread(target=server.run, name="curate-waitress", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.effective_port}"
    finally:
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        wasyncore.close_all(server._map)
        thread.join(timeout=10)

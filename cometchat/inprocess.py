"""A requests transport that answers from a WSGI app in this process, with no socket.

The embedded default (``python server.py`` with no credentials) points the client at the
emulator through it: the client runs its real code path (headers, JSON, status mapping,
retries) and nothing leaves the process. Timeouts cannot interrupt an in-process call.
The WSGI call is made here, with the standard library alone: the client needs no Werkzeug.
"""

from __future__ import annotations

import io
import sys
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import unquote_to_bytes, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

__all__ = ["WSGIAdapter", "wsgi_environ"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Headers that are WSGI environ keys of their own, not HTTP_* ones (PEP 3333).
_CONTENT_KEYS = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


def wsgi_environ(method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The PEP 3333 environ of one request, as a WSGI server would build it: the path
    percent-decoded into ``PATH_INFO`` (bytes as latin-1), the query as sent."""
    parts = urlsplit(url)
    scheme = parts.scheme or "http"
    port = parts.port or (443 if scheme == "https" else 80)
    raw_path = parts.path or "/"
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
        "QUERY_STRING": parts.query,
        "REQUEST_URI": raw_path + (f"?{parts.query}" if parts.query else ""),
        "RAW_URI": raw_path + (f"?{parts.query}" if parts.query else ""),
        "SERVER_NAME": parts.hostname or "localhost",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": parts.netloc or "localhost",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "REMOTE_ADDR": "127.0.0.1",  # this process: the loopback, as far as the app can tell
    }
    for name, value in headers.items():
        key = _CONTENT_KEYS.get(name.lower(), "HTTP_" + name.upper().replace("-", "_"))
        environ[key] = f"{environ[key]}, {value}" if key.startswith("HTTP_") and key in environ else value
    if body or "CONTENT_LENGTH" in environ:
        environ["CONTENT_LENGTH"] = str(len(body))  # the body's own length, whatever the header said
    return environ


def _charset(content_type: str | None) -> str:
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"


class WSGIAdapter(BaseAdapter):
    def __init__(self, app: WSGIApp) -> None:
        super().__init__()
        self._app = app

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        if body is not None and not isinstance(body, bytes):
            raise TypeError("the in-process adapter sends bodies given as bytes or str, not streams")
        headers = {k: v.decode("latin-1") if isinstance(v, bytes) else v for k, v in request.headers.items()}
        environ = wsgi_environ(request.method or "GET", request.url or "", headers, body or b"")
        started: list[tuple[str, list[tuple[str, str]]]] = []
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
            started[:] = [(status, headers)]  # nothing is sent before the app is done: the last one counts
            return written.append

        answer = self._app(environ, start_response)
        try:
            written.extend(answer)
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()
        status, answered = started[0]
        response = requests.Response()
        response.status_code = int(status.split(" ", 1)[0])
        response.reason = status.split(" ", 1)[-1]
        response.headers = CaseInsensitiveDict()
        for name, value in answered:
            known = response.headers.get(name)
            response.headers[name] = value if known is None else f"{known}, {value}"
        response._content = b"".join(written)
        response._content_consumed = True  # the whole body is here: nothing left to stream
        response.url = request.url or ""
        response.request = request
        response.encoding = _charset(response.headers.get("Content-Type"))
        return response

    def close(self) -> None:
        pass

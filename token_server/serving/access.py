"""gunicorn's access line for an app it does not serve itself: a WSGI wrapper (in the app's
thread) hands gunicorn's logger, our RedactingLogger, what its ``access()`` reads: the answer's
status, headers and size, the request's headers and environ, and the time taken."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any


class Answer:
    """What gunicorn's logger reads of a response."""

    def __init__(self) -> None:
        self.status = "500 Internal Server Error"
        self.status_code = 500
        self.headers: list[tuple[str, str]] = []
        self.sent = 0
        self.response_length: int | None = None


class Asked:
    """What gunicorn's logger reads of a request (the rest is in the environ)."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.headers = [(k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")]
        self.method = environ.get("REQUEST_METHOD")
        self.path = environ.get("PATH_INFO")
        self.query = environ.get("QUERY_STRING", "")
        self.version = (1, 1)
        self.uri = self.path


def with_access_log(app: Callable[..., Iterable[bytes]], log: Any) -> Callable[..., Iterator[bytes]]:
    def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        started = time.monotonic()
        answer = Answer()

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer.status, answer.headers = status, headers
            answer.status_code = int(status.split(None, 1)[0])
            return start_response(status, headers, exc_info)

        body = app(environ, start)
        try:
            for chunk in body:
                answer.sent += len(chunk)
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            elapsed = datetime.timedelta(seconds=time.monotonic() - started)
            log.access(answer, Asked(environ), environ, elapsed)

    return logged

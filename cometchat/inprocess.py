"""A requests transport that answers from a WSGI app in this process, with no socket.

The embedded default (``python server.py`` with no credentials) points the client at the
emulator through it: the client runs its real code path (headers, JSON, status mapping,
retries) and nothing leaves the process. Timeouts cannot interrupt an in-process call.
"""

from __future__ import annotations

from typing import Any, Mapping

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import Client


class WSGIAdapter(BaseAdapter):
    def __init__(self, app: Any) -> None:
        super().__init__()
        self._client = Client(app)

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
        answer = self._client.open(request.url, method=request.method, headers=dict(request.headers), data=body or b"")
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.get_data()
        response._content_consumed = True  # the whole body is here: nothing left to stream
        response.url = request.url or ""
        response.request = request
        response.encoding = answer.mimetype_params.get("charset", "utf-8")
        response.reason = answer.status.split(" ", 1)[-1]
        answer.close()
        return response

    def close(self) -> None:
        pass

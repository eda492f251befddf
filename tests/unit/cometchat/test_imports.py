"""The client alone: ``import cometchat`` and its blocking client work with requests only (Flask,
Werkzeug and httpx blocked from import, as after ``pip install .``); the emulator and the
async client, whose extras are missing then, say which extra to install; the in-process
adapter answers from a WSGI app with the standard library; the client's modules import
nothing of the server."""

from __future__ import annotations

import ast
from pathlib import Path

import requests

from cometchat import CometChatClient
from cometchat.emulator import EmulatorState, create_emulator_app
from cometchat.inprocess import WSGIAdapter, wsgi_environ
from tests.procs import ROOT

BLOCKED = ("flask", "werkzeug", "httpx", "redis", "token_server")
# A meta-path finder that refuses the server's dependencies, as if they were not installed.
BLOCKER = f"""
import importlib.abc, sys
BLOCKED = {BLOCKED!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
"""

CLIENT_ALONE = """
import cometchat
from cometchat import CometChatClient, Profile
from cometchat.inprocess import WSGIAdapter

def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"data": {"uid": "alone", "name": "Alone"}}']

client = CometChatClient(base_url="http://in-process.invalid/v3", api_key="k", adapter_factory=lambda: WSGIAdapter(hello))
assert client.get_user("alone").name == "Alone"
for part, extra in (("cometchat.emulator", "server"), ("cometchat.async_client", "async")):
    try:
        __import__(part)
    except ModuleNotFoundError as exc:
        assert f'pip install "cometchat-token-server[{extra}]"' in str(exc), str(exc)
        assert exc.name in {BLOCKED}, exc.name
    else:
        raise AssertionError(part + " imported without its extra")
try:
    cometchat.AsyncCometChatClient
except ModuleNotFoundError as exc:
    assert "[async]" in str(exc), str(exc)
else:
    raise AssertionError("AsyncCometChatClient without httpx")
assert not any(name.split(".")[0] in {BLOCKED} for name in sys.modules), sorted(sys.modules)
print("the client alone works")
"""




def imported_modules(path: Path) -> set[str]:
    """The absolute module names a file imports (relative ones resolved inside cometchat)."""
    names: set[str] = set()
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
    return names


def test_the_client_imports_nothing_of_the_server() -> None:
    for path in (ROOT / "cometchat").rglob("*.py"):
        server = {name for name in imported_modules(path) if name.split(".")[0] == "token_server"}
        # budget.py only names the Redis store's new home, for the deprecated old name.
        assert not server, f"{path.relative_to(ROOT)} imports {server}"


def test_the_endpoint_table_depends_on_nothing_stateful() -> None:
    imported = imported_modules(ROOT / "cometchat" / "endpoints.py")
    assert not {name for name in imported if name.startswith("cometchat")}, imported


def test_both_transports_take_the_wire_names_from_one_module_and_not_from_each_other() -> None:
    for name in ("transport.py", "async_transport.py"):
        imported = imported_modules(ROOT / "cometchat" / name)
        assert "cometchat.wire" in imported, name
        assert not {"cometchat.transport", "cometchat.async_transport"} & imported, name
    assert "cometchat.wire" in imported_modules(ROOT / "token_server" / "requestid.py")


def test_the_in_process_adapter_builds_the_environ_a_server_would() -> None:
    environ = wsgi_environ(
        "POST",
        "http://emulator.invalid:8080/v3/users/a%2Eb%20c/auth_tokens?perPage=1&x=%2F",
        {"Content-Type": "application/json", "X-Request-ID": "r1", "Content-Length": "99"},
        b'{"a": 1}',
    )
    assert environ["PATH_INFO"] == "/v3/users/a.b c/auth_tokens"
    assert environ["QUERY_STRING"] == "perPage=1&x=%2F"
    assert environ["RAW_URI"] == "/v3/users/a%2Eb%20c/auth_tokens?perPage=1&x=%2F"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"], environ["HTTP_HOST"]) == (
        "emulator.invalid",
        "8080",
        "emulator.invalid:8080",
    )
    assert environ["CONTENT_TYPE"] == "application/json" and environ["CONTENT_LENGTH"] == "8"
    assert environ["HTTP_X_REQUEST_ID"] == "r1" and "HTTP_CONTENT_TYPE" not in environ
    assert environ["wsgi.input"].read() == b'{"a": 1}'
    # Non-ASCII bytes reach the app as WSGI's latin-1 string of the bytes sent.
    assert wsgi_environ("GET", "https://h/%C3%BC", {}, b"")["PATH_INFO"] == "/\u00c3\u00bc"
    assert "CONTENT_LENGTH" not in wsgi_environ("GET", "https://h/", {}, b"")


def test_the_in_process_adapter_answers_from_the_emulator_like_a_server() -> None:
    closed: list[bool] = []

    class Body(list):
        def close(self) -> None:
            closed.append(True)

    def app(environ, start_response):
        start_response("418 I'm a teapot", [("Content-Type", "text/plain; charset=latin-1"), ("X-A", "1"), ("X-A", "2")])
        return Body([b"te", b"\xe9"])

    session = requests.Session()
    session.mount("http://", WSGIAdapter(app))
    answer = session.get("http://in-process.invalid/")
    assert (answer.status_code, answer.reason, answer.text) == (418, "I'm a teapot", "te\u00e9")
    assert answer.headers["x-a"] == "1, 2" and closed == [True]

    emulator = create_emulator_app(EmulatorState(api_keys=["k"]))
    client = CometChatClient(
        base_url="http://emulator.invalid/v3", api_key="k", adapter_factory=lambda: WSGIAdapter(emulator)
    )
    user = client.create_user("in-process_1", "Dot", with_auth_token=True)
    assert user.uid == "in-process_1" and user.auth_token and client.get_user("in-process_1").name == "Dot"
    assert "in-process_1" in [u.uid for u in client.iter_users()] and client.rate_limit.limit is not None

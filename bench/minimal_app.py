"""The least a Python token proxy can do, for the benchmark only: Flask and one pooled
``requests.Session`` (keep-alive, the bench CA), no caller auth, validation, limits, logs or
metrics. Under the same gunicorn threads as the server, its CPU per mint is the floor of the
Python stack (gunicorn + Flask + requests) that the server's own CPU is measured against.
Never deploy this."""

import os

import requests
from flask import Flask, jsonify
from requests.adapters import HTTPAdapter

app = Flask(__name__)
BASE = os.environ["COMETCHAT_BASE_URL"].rstrip("/")
_session = requests.Session()
_session.trust_env = False
_session.verify = os.environ["COMETCHAT_CA_BUNDLE"]
_session.headers.update({"apikey": os.environ["COMETCHAT_API_KEY"]})
_session.mount("https://", HTTPAdapter(pool_maxsize=512))


@app.post("/api/cometchat/token/<uid>")
def token(uid: str):
    answer = _session.post(f"{BASE}/users/{uid}/auth_tokens", json={"force": True}, timeout=10)
    data = answer.json()["data"]
    return jsonify({"uid": data["uid"], "authToken": data["authToken"]})

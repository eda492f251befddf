"""The baseline: the docs' way, for the benchmark only. A new ``requests.post`` per call
(no pooling: a fresh TCP + TLS connection each time), no caller auth, no validation.
Never deploy this; it exists to measure what the real server saves."""

import os

import requests
from flask import Flask, jsonify, request

app = Flask(__name__)
BASE = os.environ["COMETCHAT_BASE_URL"].rstrip("/")
HEADERS = {"apikey": os.environ["COMETCHAT_API_KEY"], "Content-Type": "application/json"}


@app.post("/api/cometchat/token/<uid>")
def token(uid):
    answer = requests.post(f"{BASE}/users/{uid}/auth_tokens", headers=HEADERS, json={"force": True}, timeout=30)
    if answer.status_code == 404:  # first login: create, then mint (the docs' Node example)
        requests.post(f"{BASE}/users", headers=HEADERS, json={"uid": uid, "name": uid}, timeout=30)
        answer = requests.post(f"{BASE}/users/{uid}/auth_tokens", headers=HEADERS, json={"force": True}, timeout=30)
    return jsonify({"uid": uid, "authToken": answer.json()["data"]["authToken"]})


@app.post("/api/cometchat/users")
def create_user():
    body = request.get_json()
    requests.post(f"{BASE}/users", headers=HEADERS, json={"uid": body["uid"], "name": body["name"]}, timeout=30)
    answer = requests.post(f"{BASE}/users/{body['uid']}/auth_tokens", headers=HEADERS, json={"force": True}, timeout=30)
    return jsonify({"authToken": answer.json()["data"]["authToken"]}), 201

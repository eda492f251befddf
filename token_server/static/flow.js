/*
 * The demo page's flow panel: every step of a sign-in, sign-up or log-out, as it happens.
 * The page's calls to the token server (method, route, status, time), what the token server
 * did at CometChat (from the dev-mode X-Dev-Upstream-Trace header), the chat SDK's calls, and
 * the webhooks CometChat (the emulator, offline) sent back to the server.
 * Tokens and JWTs only ever appear masked.
 */
(function () {
  "use strict";

  // What each upstream endpoint (as the server templates it) does, in words.
  var UPSTREAM = {
    "GET /users/{uid}": "read the user",
    "POST /users/{uid}/auth_tokens": "mint a fresh token (force: true)",
    "POST /users": "create the user with its first token (withAuthToken: one round trip)",
    "DELETE /users/{uid}/auth_tokens/{authToken}": "revoke this device's token",
    "DELETE /users/{uid}/auth_tokens": "revoke every token"
  };
  // Characters of a secret shown at its start and end: enough to tell two tokens apart.
  var KEEP_START = 6;
  var KEEP_END = 4;

  function mask(secret) {
    if (typeof secret !== "string" || !secret) { return "(none)"; }
    if (secret.length <= KEEP_START + KEEP_END + 3) { return "•••"; }
    return secret.slice(0, KEEP_START) + "…" + secret.slice(-KEEP_END);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // A route or call as code that may wrap after a "/" (never inside a word), copying as typed.
  function codeOf(text) {
    var node = el("code", "what");
    text.split("/").forEach(function (part, i) {
      if (i > 0) { node.appendChild(document.createTextNode("/")); node.appendChild(document.createElement("wbr")); }
      node.appendChild(document.createTextNode(part));
    });
    return node;
  }

  function list() { return document.getElementById("flow"); }
  function ms(value) { return (Math.round(value * 10) / 10) + " ms"; }

  function statusBadge(text, ok) {
    return el("span", "badge " + (ok ? "ok" : "failed"), text);
  }

  // A step appears when it starts ("…") and is completed in place when it ends.
  function Step(actor, what, kind, sent) {
    this.item = el("li", "step step-" + kind);
    this.item.dataset.kind = kind;
    var line = el("div", "line");
    line.appendChild(el("span", "actor", actor));
    line.appendChild(codeOf(what));
    this.result = el("span", "result", "…");
    line.appendChild(this.result);
    this.item.appendChild(line);
    if (sent) { this.item.appendChild(el("div", "sent", sent)); }
    list().appendChild(this.item);
    this.item.scrollIntoView({ block: "nearest" });
    this.started = performance.now();
  }
  Step.prototype.end = function (outcome, ok, extra) {
    this.result.textContent = "";
    this.result.appendChild(statusBadge(outcome, ok));
    this.result.appendChild(el("span", "ms", ms(performance.now() - this.started)));
    this.item.dataset.outcome = ok ? "ok" : "failed";
    if (extra) { this.item.appendChild(el("div", "detail", extra)); }
    return this;
  };
  Step.prototype.upstream = function (trace) {
    var nested = el("ol", "upstream");
    if (!trace.length) {
      nested.appendChild(el("li", "step step-upstream none", "Server → CometChat: no call"));
    }
    trace.forEach(function (call) {
      var item = el("li", "step step-upstream");
      item.dataset.kind = "upstream";
      item.dataset.call = call.call;
      var line = el("div", "line");
      line.appendChild(el("span", "actor", "Server → CometChat"));
      line.appendChild(codeOf(call.call));
      var result = el("span", "result");
      var ok = call.outcome === "ok";
      result.appendChild(statusBadge(String(call.status || call.outcome), ok));
      result.appendChild(el("span", "ms", ms(call.ms)));
      line.appendChild(result);
      item.appendChild(line);
      var words = (UPSTREAM[call.call] || "") + (call.attempt > 1 ? " (retry " + (call.attempt - 1) + ")" : "") +
        (call.code ? ": " + call.code : "");
      if (words) { item.appendChild(el("div", "detail", words)); }
      nested.appendChild(item);
    });
    this.item.appendChild(nested);
    return this;
  };

  window.DemoFlow = {
    mask: mask,
    // A new action: a heading line for the steps that follow.
    begin: function (title, how) {
      document.getElementById("flow-empty").hidden = true;
      var item = el("li", "action", title);
      if (how) { item.appendChild(el("span", "how", " " + how)); }
      list().appendChild(item);
    },
    // ``sent``: what else the request carried worth showing (its Authorization, masked).
    server: function (method, route, sent) { return new Step("Page → server", method + " " + route, "server", sent); },
    sdk: function (call) { return new Step("Page → SDK", call, "sdk"); },
    webhook: function (what) { return new Step("CometChat → server", what, "webhook"); }
  };
})();

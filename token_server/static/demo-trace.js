/*
 * The demo page's instruments: fetch and the two SDKs as cometchat-session.js sees them, each
 * call drawn in the flow panel (flow.js) as it happens, with what the token server did at
 * CometChat (the dev-mode X-Dev-Upstream-Trace header), and the webhook CometChat sends the
 * server when the user's connection goes up or down (the dev-mode webhook trace, long-polled).
 * Tokens only ever appear masked.
 */
const config = JSON.parse(document.getElementById("demo-config").textContent);
const flow = window.DemoFlow;

function traceOf(response) {
  try { return JSON.parse(response.headers.get(config.traceHeader) || "null"); } catch (e) { return null; }
}

// What a token-server answer held, in words (secrets masked).
function describe(data) {
  if (!data) { return ""; }
  if (data.authToken && data.user) { return "created " + data.user.uid + ", authToken " + flow.mask(data.authToken); }
  if (data.authToken) {
    return "uid " + data.uid + ", authToken " + flow.mask(data.authToken) +
      (data.deviceId ? ", device " + data.deviceId + (data.reused ? ", reused" : ", new token") : "");
  }
  if (data.jwt) { return "jwt " + flow.mask(data.jwt) + " for uid " + data.uid + ", expires in " + data.expiresIn + " s"; }
  if (data.revoked !== undefined) { return "device " + data.deviceId + " revoked (" + data.revoked + ")"; }
  if (data.user) { return "user " + data.user.uid + " exists"; }
  return "";
}

// fetch, shown in the flow panel: every call to the token server, the module's included.
export function tracedFetch(url, init) {
  const options = init || {};
  const method = options.method || "GET";
  const headers = options.headers || {};
  const bearer = headers.Authorization ? headers.Authorization.replace(/^Bearer /, "") : null;
  const path = new URL(url, location.href).pathname;
  const step = flow.server(method, path, bearer ? "Authorization: Bearer " + flow.mask(bearer) : "");
  return fetch(url, options).then(
    (response) => response.clone().json().catch(() => ({})).then((data) => {
      const error = !response.ok && ((data && data.error) || { code: "HTTP_" + response.status });
      const id = response.headers.get("X-Request-ID");
      step.end(String(response.status), response.ok, (error ? error.code : describe(data)) +
        (id ? "  (request " + id + ")" : ""));
      const trace = traceOf(response);
      if (trace) { step.upstream(trace); }
      return response;
    }),
    (error) => { step.end("no answer", false); throw error; }
  );
}

// An SDK call shown as a step in the flow panel.
function traced(label, run, outcome) {
  const step = flow.sdk(label);
  return Promise.resolve().then(run).then(
    (value) => { step.end("ok", true, outcome ? outcome(value) : ""); return value; },
    (error) => { step.end("failed", false, error && (error.code || error.errorCode)); throw error; }
  );
}

// The SDKs as the module sees them, with each call the module makes shown in the flow.
export function tracedChat(SDK) {
  return {
    getLoggedinUser: () => traced("CometChat.getLoggedinUser()", () => SDK.getLoggedinUser(),
      (user) => user ? "saved session for " + user.getUid() : "no saved session"),
    login: (token) => traced("CometChat.login(\"" + flow.mask(token) + "\")", () => SDK.login(token),
      (user) => "logged in as " + user.getUid()),
    logout: () => traced("CometChat.logout()", () => SDK.logout())
  };
}

export function tracedCalls(Calls) {
  return {
    getLoggedInUser: () => Calls.getLoggedInUser(),
    getUserAuthToken: () => Calls.getUserAuthToken(),
    isUserLoggedIn: () => Calls.isUserLoggedIn(),
    loginWithAuthToken: (token) => traced("CometChatCalls.loginWithAuthToken(\"" + flow.mask(token) + "\")",
      () => Calls.loginWithAuthToken(token), (user) => "Calls SDK signed in as " + user.uid + " with the same token"),
    logout: () => traced("CometChatCalls.logout()", () => Calls.logout())
  };
}

// The webhooks the server received, numbered: the page asks for those after the last it saw.
const CONNECTION_TRIGGER = "user_connection_status_changed";
const WEBHOOK_POLL_S = 5;  // the server holds each poll at most this long (it allows 10)
const WEBHOOK_BUDGET_MS = 20000;  // then the step says nothing was heard
let webhookSeen = 0;

// Where the webhook trace stands now; call before any action so none of its events is missed.
export function primeWebhooks() {
  if (!config.webhookTrace) { return Promise.resolve(); }
  return fetch(config.webhookTrace + "?after=0&wait=0")
    .then((response) => response.json())
    .then((data) => { webhookSeen = Math.max(webhookSeen, data.last || 0); }, () => {});
}

export function webhookMark() { return webhookSeen; }

function timeOf(iso) { return iso ? new Date(iso).toLocaleTimeString() : "?"; }

// A step for the connection webhook of ``uid`` going ``status``, completed when the server has
// it (events after ``mark``, from webhookMark() taken before the action), or after the budget.
export function watchConnectionWebhook(uid, status, mark) {
  if (!config.webhookTrace) { return Promise.resolve(null); }
  const step = flow.webhook("webhook " + CONNECTION_TRIGGER + " (" + status + ")");
  const until = Date.now() + WEBHOOK_BUDGET_MS;
  let after = mark;
  const wanted = (e) => e.trigger === CONNECTION_TRIGGER && e.status === status &&
    String(e.uid).toLowerCase() === uid.toLowerCase();
  const poll = () => fetch(config.webhookTrace + "?after=" + after + "&wait=" + WEBHOOK_POLL_S)
    .then((response) => { if (!response.ok) { throw response.status; } return response.json(); })
    .then((data) => {
      after = data.last;
      webhookSeen = Math.max(webhookSeen, data.last);
      const hit = data.events.find(wanted);
      if (hit) {
        step.item.dataset.status = hit.status;
        step.end(hit.answer + (hit.duplicate ? " duplicate" : " received"), hit.answer === 200,
          "POST /api/cometchat/webhooks: " + hit.uid + " " + hit.action + " on " + hit.platform +
          " at " + timeOf(hit.at) + "; " + (hit.duplicate ? "already seen, answered 200 and not queued again"
            : "Basic Auth checked, stored before the 200, handed to the handlers (presence: " + hit.status + ")"));
        return hit;
      }
      if (Date.now() >= until) {
        step.end("not heard", false, "no " + status + " connection webhook for " + uid + " reached the server");
        return null;
      }
      return poll();
    })
    .catch((error) => { step.end("no answer", false, "webhook trace: " + error); return null; });
  return poll();
}

/*
 * The demo page's instruments: fetch and the two SDKs as cometchat-session.js sees them, each
 * call drawn in the flow panel (flow.js) as it happens, with what the token server did at
 * CometChat (the dev-mode X-Dev-Upstream-Trace header). Tokens only ever appear masked.
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

/*
 * The demo page: the documented CometChat login flow, built on cometchat-session.js.
 * init both SDKs -> a saved session skips the login (session.signIn() makes no request) ->
 * sign up (POST /users, then this device's token) or sign in (session.signIn(): POST the
 * token route with this device's id, CometChat.login(authToken), one fresh token if the SDK
 * refuses it, then the Calls SDK v5 with the same token) -> show the user ->
 * Log out: session.signOut() revokes this device's token on the server, then logs both SDKs out.
 * Two ways to ask the token server: as a trusted backend (dev mode: tokenUrl
 * /token/<uid>) or as a single-page app in production (tokenUrl /token with
 * Authorization: Bearer <user JWT>). Every step is shown in the flow panel (flow.js), and then
 * (offline) the connection webhook the emulator sends the server, as the server received it.
 */
import { createSession } from "/static/cometchat-session.js";
import {
  primeWebhooks, tracedCalls, tracedChat, tracedFetch, watchConnectionWebhook, webhookMark
} from "./demo-trace.js";

const config = JSON.parse(document.getElementById("demo-config").textContent);
const UID_RE = /^[A-Za-z0-9_-]{1,100}$/;
const LISTENER_ID = "demo-login-listener";
const CALLER_KEY = "cometchat-demo:caller";
const JWT_MARGIN_MS = 30000;  // fetch a new JWT this long before the old one expires
const $ = (id) => document.getElementById(id);
const flow = window.DemoFlow;
const CALLERS = {
  backend: "as a trusted backend (dev mode)",
  spa: "as a single-page app (production, user JWT)"
};
let jwt = null;  // the single-page app's user JWT {token, uid, expiresAt}, in memory only
let session = null;  // the cometchat-session.js session of the signed-in (or signing-in) user
let SDK = null;
let Calls = null;

const MESSAGES = {
  ERR_BAD_REQUEST: "That UID is not valid: use 1 to 100 letters, digits, '_' or '-'.",
  ERR_UID_NOT_FOUND: "There is no user with that UID yet. Enter a name and choose Sign up.",
  ERR_UID_ALREADY_EXISTS: "That UID is already taken. Choose Sign in instead, or pick another UID.",
  ERR_UNAUTHORIZED: "The token server refused this page: it is not in dev mode.",
  ERR_FORBIDDEN: "The token server refused: a user's JWT only gets tokens for that user.",
  ERR_TOO_MANY_REQUESTS: "Too many attempts. Wait a minute and try again.",
  ERR_UPSTREAM_UNAVAILABLE: "The chat service is unavailable right now. Try again in a moment.",
  ERR_UPSTREAM_RATE_LIMITED: "The chat service is busy right now. Try again in a moment.",
  ERR_UPSTREAM_TIMEOUT: "The chat service took too long to answer. Try again.",
  ERR_UPSTREAM_BAD_RESPONSE: "The chat service answered with an error. Try again later.",
  ERR_UPSTREAM_MISCONFIGURED: "The token server's CometChat credentials are wrong. Tell whoever runs it.",
  AUTH_ERR_AUTH_TOKEN_NOT_FOUND: "The chat service did not accept the login token. Sign in again.",
  NETWORK_ERROR: "Cannot reach the token server. Check that it is running, then try again.",
  TIMEOUT: "The token server did not answer in time. Try again.",
  SDK_MISSING: "The CometChat chat SDK could not be loaded (offline, or blocked by the browser), so login is not possible."
};

function friendly(error) {
  const code = error && error.code;
  if (code && MESSAGES[code]) { return MESSAGES[code]; }
  if (code === "ERR_BODY_TOO_LARGE") { return "That is too much text."; }
  return "Something went wrong (" + (code || "unknown error") + "). Try again.";
}

function showError(error) {
  const box = $("error");
  box.textContent = typeof error === "string" ? error : friendly(error);
  box.hidden = false;
}
function clearError() { $("error").hidden = true; $("error").textContent = ""; }
function setStatus(text) { $("status").textContent = text; }
function setBusy(busy) { document.querySelectorAll("button").forEach((b) => { b.disabled = busy; }); }

function logEvent(name, detail) {
  const item = document.createElement("li");
  item.textContent = new Date().toLocaleTimeString() + " " + name + (detail ? ": " + detail : "");
  item.dataset.event = name;
  $("events").appendChild(item);
}

// The page's own calls (not the module's): JSON in and out, errors thrown with their code.
function call(method, route, body, bearer) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; }
  if (bearer) { headers.Authorization = "Bearer " + bearer; }
  return tracedFetch(route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    .catch(() => { throw { code: "NETWORK_ERROR" }; })
    .then((response) => response.json().catch(() => ({})).then((data) => {
      if (!response.ok) { throw (data && data.error) || { code: "HTTP_" + response.status }; }
      return data;
    }));
}

function api(method, path, body, bearer) { return call(method, config.apiBase + path, body, bearer); }

// The production path's first step: a user JWT. Here the dev-mode helper signs it; in
// production the app's identity provider does, and the token server only verifies it.
function userJwt(uid) {
  return call("POST", config.devJwtRoute, { uid }).then((data) => {
    jwt = { token: data.jwt, uid: data.uid, expiresAt: Date.now() + data.expiresIn * 1000 };
    return data.jwt;
  });
}

// The JWT this page already holds for ``uid`` while it is still good, else a new one.
function jwtFor(uid) {
  const fresh = jwt && jwt.uid === uid.toLowerCase() && Date.now() < jwt.expiresAt - JWT_MARGIN_MS;
  return fresh ? Promise.resolve(jwt.token) : userJwt(uid);
}

function sessionFor(uid, how) {
  localStorage.setItem(CALLER_KEY, how);
  return createSession({
    CometChat: tracedChat(SDK),
    CometChatCalls: Calls ? tracedCalls(Calls) : null,
    tokenUrl: config.apiBase + (how === "spa" ? "/token" : "/token/" + encodeURIComponent(uid)),
    headers: how === "spa" ? async () => ({ Authorization: "Bearer " + await jwtFor(uid) }) : undefined,
    uid,  // the /token form cannot name the user: a saved session for another one is left
    fetch: tracedFetch
  });
}

function showUser(user, how) {
  $("login").hidden = true;
  $("profile").hidden = false;
  $("user-uid").textContent = user.getUid();
  $("user-name").textContent = user.getName();
  $("user-status").textContent = user.getStatus ? (user.getStatus() || "unknown") : "unknown";
  $("user-device").textContent = session ? session.deviceId : "";
  showCalls(user);
  const avatar = shownAvatar(user.getAvatar && user.getAvatar());
  const img = $("user-avatar");
  const initials = $("user-initials");
  initials.textContent = (user.getName() || user.getUid()).split(/\s+/).map((w) => w.charAt(0)).join("").slice(0, 2).toUpperCase();
  initials.hidden = false;
  img.hidden = true;
  img.onload = () => { img.hidden = false; initials.hidden = true; };
  img.onerror = () => { img.hidden = true; initials.hidden = false; };  // a broken image: keep the initials
  if (avatar) { img.alt = "Avatar of " + user.getName(); img.src = avatar; } else { img.removeAttribute("src"); }
  explain(user.getUid(), how);
  setStatus("Signed in as " + user.getUid() + ".");
}

function showCalls(user) {
  const box = $("user-calls");
  if (!Calls) { box.textContent = "not loaded"; return; }
  const callsUser = Calls.getLoggedInUser();
  const chatToken = user.getAuthToken ? user.getAuthToken() : null;
  const same = callsUser && Calls.getUserAuthToken() === chatToken;
  box.textContent = callsUser ? "signed in as " + callsUser.uid + (same ? ", with the chat SDK's token" : "") : "not signed in";
  box.dataset.sameToken = same ? "yes" : "no";
}

// Only images this mode may show: our own, or the hosts the page's policy lists (none
// offline, where a test user's CDN avatar becomes initials).
function shownAvatar(url) {
  if (typeof url !== "string" || !url) { return null; }
  let parsed;
  try { parsed = new URL(url, location.href); } catch (e) { return null; }
  if (parsed.origin === location.origin) { return parsed.href; }
  return parsed.protocol === "https:" && config.imageHosts.indexOf(parsed.host) >= 0 ? parsed.href : null;
}

function explain(uid, how) {
  const why = how === "spa"
    ? "The server used the uid in the JWT's sub claim. The route names no uid, and the page " +
      "cannot change the claim: the server checks the JWT's signature, and asking for another " +
      "user with this JWT is refused."
    : "The page named the uid in the route, and dev mode trusts this page as production trusts " +
      "a backend holding a service key. An end user's browser in production cannot do this.";
  $("why-uid").textContent = "Token minted for " + uid + ". " + why;
  $("try-other").hidden = how !== "spa";
  $("try-other").textContent = "Ask for another user's token with this JWT";
  $("try-other").dataset.uid = config.testUids.filter((u) => u !== uid.toLowerCase())[0];
  $("try-other-result").hidden = true;
}

function showLogin() {
  $("profile").hidden = true;
  $("login").hidden = false;
  setStatus("Not signed in.");
}

function caller() {
  const checked = document.querySelector("input[name=caller]:checked");
  return checked ? checked.value : "backend";
}

function readUid() {
  const uid = $("uid").value.trim();
  if (!UID_RE.test(uid)) { throw { code: "ERR_BAD_REQUEST" }; }
  return uid;
}

function run(action) {
  clearError();
  setBusy(true);
  return Promise.resolve()
    .then(action)
    .catch(showError)
    .then(() => {
      setBusy(false);
      // Keyboard users land on the next thing to do (a disabled button cannot take focus).
      if (!$("profile").hidden) { $("logout").focus(); } else if (document.activeElement === document.body) { $("uid").focus(); }
    });
}

function signInWith(uid, how, mark) {
  session = sessionFor(uid, how);
  return session.signIn().then((user) => {
    showUser(user, how);
    // The SDK's connection opens after the login: the webhook follows (not waited for).
    if (mark !== undefined) { watchConnectionWebhook(user.getUid(), "online", mark); }
  });
}

function signIn(given) {
  return run(() => {
    const uid = given || readUid();
    const how = caller();
    setStatus("Signing in as " + uid + "…");
    flow.begin("Sign in as " + uid, CALLERS[how]);
    const mark = webhookMark();
    // As a backend, check the user exists first: the demo's Sign in never creates users by accident.
    const checked = how === "spa" ? Promise.resolve() : api("GET", "/users/" + encodeURIComponent(uid));
    return checked.then(() => signInWith(uid, how, mark))
      .catch((error) => { setStatus("Not signed in."); throw error; });
  });
}

function signUp() {
  return run(() => {
    const uid = readUid();
    const name = $("name").value.trim();
    if (!name) { $("name").focus(); throw "Enter a name to sign up."; }
    const how = caller();
    setStatus("Creating " + uid + "…");
    flow.begin("Sign up as " + uid, CALLERS[how]);
    const mark = webhookMark();
    const bearer = how === "spa" ? userJwt(uid) : Promise.resolve(null);
    return bearer
      .then((token) => api("POST", "/users", { uid, name }, token))
      .then(() => signInWith(uid, how, mark))  // this device's own token, as every later sign-in gets it
      .catch((error) => { setStatus("Not signed in."); throw error; });
  });
}

function logOut() {
  return run(() => {
    const uid = $("user-uid").textContent;
    const how = localStorage.getItem(CALLER_KEY) === "spa" ? "spa" : "backend";
    flow.begin("Log out " + uid, CALLERS[how]);
    const mark = webhookMark();
    return session.signOut().then((result) => {
      watchConnectionWebhook(uid, "offline", mark);
      jwt = null;
      localStorage.removeItem(CALLER_KEY);
      showLogin();
      if (!result.revoked) {
        showError("Logged out here, but the server did not revoke this device's token (" +
          ((result.error && result.error.code) || "no answer") + ").");
      }
    });
  });
}

// The production path's guarantee, shown: this JWT gets no token for anyone else.
function tryOther() {
  const other = $("try-other").dataset.uid;
  const me = $("user-uid").textContent;
  const result = $("try-other-result");
  clearError();
  flow.begin("Ask for " + other + "'s token with " + me + "'s JWT", CALLERS.spa);
  return jwtFor(me)
    .then((token) => api("POST", "/token/" + encodeURIComponent(other), {}, token))
    .then(
      () => { result.textContent = "The server minted a token for " + other + ". It should not have."; },
      (error) => {
        result.textContent = "Refused (" + (error.code || "error") + "): a JWT for " + me + " gets tokens for " + me + " only.";
      }
    )
    .then(() => { result.hidden = false; });
}

// The Calls SDK v5: the stand-in offline (window.CometChatCalls); live, the build the operator
// configured, whose UMD bundle puts the package's exports on globalThis["@cometchat/calls-sdk-javascript"].
function callsSdk() {
  const bundle = window["@cometchat/calls-sdk-javascript"];
  const found = (bundle && bundle.CometChatCalls) || window.CometChatCalls;
  if (config.callsSdk === "not-configured") {
    $("calls-note").textContent = "Calls SDK v5: not loaded. Set COMETCHAT_CALLS_SDK_URL and " +
      "COMETCHAT_CALLS_SDK_INTEGRITY to load it and sign it in with the same token.";
    $("calls-note").hidden = false;
  }
  return found && typeof found.loginWithAuthToken === "function" ? found : null;
}

async function initCalls(found) {
  const hosts = config.emulatorUrl ? { clientHost: new URL(config.emulatorUrl, location.href).href,
    adminHost: new URL(config.emulatorUrl, location.href).href, host: new URL(config.emulatorUrl, location.href).href } : {};
  const result = await found.init({ appId: config.appId, region: config.region, ...hosts });
  if (!result || !result.success) {
    $("calls-note").textContent = "Calls SDK v5 did not start: " + ((result && result.error && result.error.message) || "unknown");
    $("calls-note").hidden = false;
    return null;
  }
  found.addLoginListener(LISTENER_ID, {
    onLoginSuccess: (user) => logEvent("calls.onLoginSuccess", user && user.uid),
    onLoginFailure: (error) => logEvent("calls.onLoginFailure", error && error.errorCode),
    onLogoutSuccess: () => logEvent("calls.onLogoutSuccess"),
    onLogoutFailure: (error) => logEvent("calls.onLogoutFailure", error && error.errorCode)
  });
  return found;
}

async function start() {
  $("login-form").addEventListener("submit", (event) => { event.preventDefault(); signIn(); });
  $("sign-up").addEventListener("click", signUp);
  $("logout").addEventListener("click", logOut);
  $("try-other").addEventListener("click", tryOther);
  document.querySelectorAll(".test-user").forEach((button) => {
    button.addEventListener("click", () => { $("uid").value = button.dataset.uid; signIn(button.dataset.uid); });
  });

  const found = callsSdk();
  SDK = window.CometChat;
  if (!SDK || typeof SDK.init !== "function") {
    setStatus("The chat SDK is not available.");
    showError(MESSAGES.SDK_MISSING);
    return;
  }
  SDK.addLoginListener(LISTENER_ID, new SDK.LoginListener({
    loginSuccess: (user) => logEvent("loginSuccess", user && user.getUid ? user.getUid() : ""),
    loginFailure: (error) => logEvent("loginFailure", error && error.code),
    logoutSuccess: () => logEvent("logoutSuccess"),
    logoutFailure: (error) => logEvent("logoutFailure", error && error.code)
  }));
  window.addEventListener("pagehide", () => SDK.removeLoginListener(LISTENER_ID));
  const settings = new SDK.AppSettingsBuilder().subscribePresenceForAllUsers().setRegion(config.region)
    .autoEstablishSocketConnection(true).build();
  await primeWebhooks();
  try {
    await SDK.init(config.appId, settings);
    Calls = found ? await initCalls(found) : null;
    const saved = await SDK.getLoggedinUser();
    if (!saved) { showLogin(); return; }
    // A saved session: signIn() resolves with it and makes no request; no listener event fires.
    const how = localStorage.getItem(CALLER_KEY) === "spa" ? "spa" : "backend";
    logEvent("sessionRestored", saved.getUid() + " (getLoggedinUser(): saved session, no new login)");
    flow.begin("Page loaded: session restored");
    await signInWith(saved.getUid(), how);
  } catch (error) {
    showLogin();
    showError(error);
  }
}

start();

/*
 * cometchat-session.js: the browser half of a CometChat login, as one small ES module.
 * No dependency, no build step: copy this file into your front end and import it.
 *
 *   import { createSession } from "./cometchat-session.js";
 *   const session = createSession({ CometChat, CometChatCalls, tokenUrl: "/api/cometchat/token",
 *                                   headers: async () => ({ Authorization: "Bearer " + idToken }) });
 *   const user = await session.signIn();   // an SDK session in place: no request
 *   const result = await session.signOut();  // revokes this device's token, logs the SDKs out
 *
 * signIn(): CometChat.getLoggedinUser(); a saved session resolves with no request, unless it
 * is another user's than the one tokenUrl names (/token/<uid>) or the `uid` option gives: then
 * both SDKs log out first. Otherwise POST tokenUrl {deviceId}, then CometChat.login(authToken);
 * when the SDK refuses that token (AUTH_ERR_AUTH_TOKEN_NOT_FOUND or another auth-token error)
 * one retry with {deviceId, fresh: true}. The Calls SDK v5, when given, signs in with the same
 * token (CometChatCalls.loginWithAuthToken). Concurrent calls share one attempt; a signIn()
 * started during a signOut() waits for it, then signs in.
 * signOut(): DELETE <prefix>/api/cometchat/users/<uid>/sessions/<deviceId> on tokenUrl's origin
 * (<prefix>: what comes before /api/cometchat/token in tokenUrl's path) with the same headers,
 * then logout() of each SDK, even when the server cannot be reached; the result says whether
 * the server revoked the token.
 * Every failure rejects with a SessionError whose `code` is the token server's error code,
 * the SDK's, or one of this module's: NETWORK_ERROR, TIMEOUT, BAD_RESPONSE, HEADERS_FAILED
 * (headers() threw without a code of its own).
 * Options beside the contract's: `uid` (the user this page signs in, for the /token form),
 * `timeoutMs` (bounds each exchange with the token server, headers and body; default 15000)
 * and `fetch` (default the browser's; the demo page passes one that shows each call).
 */

const DEVICE_KEY = "cometchat-session:deviceId";
const DEVICE_RE = /^[A-Za-z0-9_-]{1,100}$/;
// tokenUrl's path: an optional prefix (a server mounted under a path), then the token route,
// then, in the backend-issued form, the uid.
const TOKEN_PATH_RE = /^(.*)\/api\/cometchat\/token(?:\/([^/]+))?\/?$/;
const SESSIONS_PATH = "/api/cometchat/users/";
const DEFAULT_TIMEOUT_MS = 15000;
// Codes with which an SDK says "this auth token is no good": worth exactly one fresh token.
const TOKEN_REFUSED = /AUTH_?TOKEN|USER_NOT_AUTHORISED/;

export class SessionError extends Error {
  constructor(code, message, details) {
    super(message || code);
    this.name = "SessionError";
    this.code = code;
    if (details) { Object.assign(this, details); }
  }
}

// The code an SDK error carries: the chat SDK says `code`, the Calls SDK v5 `errorCode`.
function sdkError(error, fallback) {
  if (error instanceof SessionError) { return error; }
  const code = (error && (error.code || error.errorCode)) || fallback;
  const message = (error && (error.message || error.errorDescription)) || code;
  return new SessionError(String(code), String(message), { cause: error });
}

function refusedToken(error) {
  return TOKEN_REFUSED.test(String(error.code));
}

function randomId() {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);  // works on plain http too, unlike randomUUID()
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// This device's id: read from storage, else made and kept. A storage that refuses
// (private mode, quota) still gives an id for this page's lifetime.
function loadDeviceId(storage) {
  let id = null;
  try { id = storage && storage.getItem(DEVICE_KEY); } catch (e) { id = null; }
  if (typeof id === "string" && DEVICE_RE.test(id)) { return id; }
  id = randomId();
  try { if (storage) { storage.setItem(DEVICE_KEY, id); } } catch (e) { /* kept in memory only */ }
  return id;
}

function defaultStorage() {
  try { return globalThis.localStorage || null; } catch (e) { return null; }
}

function uidOf(user) {
  if (!user) { return null; }
  return typeof user.getUid === "function" ? user.getUid() : user.uid;
}

// CometChat lowercases a uid on create and on lookup; so does this module when it compares two.
function sameUid(a, b) {
  return String(a).toLowerCase() === String(b).toLowerCase();
}

// What tokenUrl says: the path prefix before /api/cometchat/token ("" at the root, or when the
// URL is not of that form) and the uid it names (the /token/<uid> form), else null.
function parseTokenUrl(endpoint) {
  const match = TOKEN_PATH_RE.exec(endpoint.pathname);
  if (!match) { return { prefix: "", uid: null }; }
  let uid = null;
  if (match[2] !== undefined) {
    try { uid = decodeURIComponent(match[2]); } catch (e) { uid = match[2]; }
  }
  return { prefix: match[1], uid };
}

const settled = (promise) => (promise ? promise.then(() => null, () => null) : Promise.resolve(null));

export function createSession(given) {
  const options = given || {};
  const { CometChat, CometChatCalls = null, tokenUrl, headers = null } = options;
  if (!CometChat || typeof CometChat.login !== "function") {
    throw new TypeError("createSession: pass the chat SDK as CometChat (already init()ed)");
  }
  if (typeof tokenUrl !== "string" || !tokenUrl) {
    throw new TypeError("createSession: tokenUrl is required");
  }
  const storage = options.storage !== undefined ? options.storage : defaultStorage();  // null: none
  const send = options.fetch || globalThis.fetch.bind(globalThis);
  const timeoutMs = options.timeoutMs || DEFAULT_TIMEOUT_MS;
  const base = typeof location !== "undefined" ? location.href : undefined;
  const tokenEndpoint = new URL(tokenUrl, base);
  const { prefix, uid: urlUid } = parseTokenUrl(tokenEndpoint);
  if (options.uid !== undefined && (typeof options.uid !== "string" || !options.uid)) {
    throw new TypeError("createSession: uid, when given, is a non-empty string");
  }
  if (options.uid !== undefined && urlUid !== null && !sameUid(options.uid, urlUid)) {
    throw new TypeError("createSession: uid and the uid in tokenUrl differ");
  }
  // The user this session signs in, when known: a saved SDK session for anyone else is left.
  const expectedUid = options.uid !== undefined ? options.uid : urlUid;
  const deviceId = loadDeviceId(storage);
  let pending = null;  // the signIn() attempt in flight, shared by concurrent callers
  let outgoing = null;  // the signOut() in progress (or queued): a signIn() waits for it

  // The caller's headers; a headers() that fails (an identity provider down) rejects with its code.
  async function extraHeaders() {
    try {
      const value = typeof headers === "function" ? await headers() : headers;
      return value || {};
    } catch (error) {
      throw sdkError(error, "HEADERS_FAILED");
    }
  }

  // One JSON request to the token server. timeoutMs bounds the whole exchange, the answer's
  // body included: a server that sends its headers and then stalls is given up on too.
  async function request(method, url, body) {
    const init = { method, headers: { Accept: "application/json", ...(await extraHeaders()) } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const controller = typeof AbortController === "function" ? new AbortController() : null;
    if (controller) { init.signal = controller.signal; }
    let timer = null;
    const deadline = new Promise((resolve, reject) => {
      timer = setTimeout(() => {
        if (controller) { controller.abort(); }
        reject(new SessionError("TIMEOUT", "The token server did not answer in time."));
      }, timeoutMs);
    });
    try {
      // The race also bounds a `fetch` option that ignores the abort signal.
      return await Promise.race([exchange(url, init), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function exchange(url, init) {
    let response;
    let text;
    try {
      response = await send(url.toString(), init);
      text = await response.text();
    } catch (error) {
      if (init.signal && init.signal.aborted) {
        throw new SessionError("TIMEOUT", "The token server did not answer in time.", { cause: error });
      }
      throw new SessionError("NETWORK_ERROR", "Cannot reach the token server.", { cause: error });
    }
    let data = null;
    try { data = JSON.parse(text); } catch (e) { data = null; }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new SessionError(error.code || "HTTP_" + response.status, error.message || "HTTP " + response.status,
        { status: response.status });
    }
    return data || {};
  }

  async function mint(fresh) {
    const answer = await request("POST", tokenEndpoint, fresh ? { deviceId, fresh: true } : { deviceId });
    if (typeof answer.authToken !== "string" || !answer.authToken) {
      throw new SessionError("BAD_RESPONSE", "The token server's answer holds no authToken.");
    }
    return answer;
  }

  async function chatLogin(authToken) {
    try {
      return await CometChat.login(authToken);
    } catch (error) {
      throw sdkError(error, "SDK_ERROR");
    }
  }

  // The Calls SDK signs in with the chat session's token; nothing to do when it already has it.
  async function callsLogin(authToken, uid) {
    if (!CometChatCalls) { return; }
    try {
      const current = CometChatCalls.getLoggedInUser();
      if (current && uidOf(current) === uid && CometChatCalls.getUserAuthToken() === authToken) { return; }
      if (current) { await CometChatCalls.logout(); }
      await CometChatCalls.loginWithAuthToken(authToken);
    } catch (error) {
      throw sdkError(error, "CALLS_SDK_ERROR");
    }
  }

  function tokenOf(user) {
    return user && typeof user.getAuthToken === "function" ? user.getAuthToken() : null;
  }

  async function attempt() {
    let user;
    try {
      user = await CometChat.getLoggedinUser();
    } catch (error) {
      throw sdkError(error, "SDK_ERROR");
    }
    if (user && expectedUid !== null && !sameUid(uidOf(user), expectedUid)) {
      await leave();  // another user's session (a shared browser): out of both SDKs first
      user = null;
    }
    if (user) {
      const token = tokenOf(user);
      if (token) { await callsLogin(token, uidOf(user)); }
      return user;
    }
    let answer = await mint(false);
    try {
      user = await chatLogin(answer.authToken);
    } catch (error) {
      if (!refusedToken(error)) { throw error; }
      answer = await mint(true);  // the stored token is gone upstream: one fresh one, once
      user = await chatLogin(answer.authToken);
    }
    await callsLogin(answer.authToken, uidOf(user));
    return user;
  }

  // Both SDKs logged out of a session that is not the expected user's.
  async function leave() {
    try { await CometChat.logout(); } catch (error) { throw sdkError(error, "SDK_ERROR"); }
    if (CometChatCalls && CometChatCalls.isUserLoggedIn()) {
      try { await CometChatCalls.logout(); } catch (error) { throw sdkError(error, "CALLS_SDK_ERROR"); }
    }
  }

  // signIn() and signOut() are serialized: a signOut() waits for the signIn() before it, and a
  // signIn() started while a signOut() runs waits for it, then signs in (it does not resolve
  // with the user that signOut() is logging out).
  function signIn() {
    if (pending) { return pending; }
    const gate = outgoing;
    const run = (gate ? settled(gate).then(attempt) : attempt())
      .finally(() => { if (pending === run) { pending = null; } });
    pending = run;
    return run;
  }

  function signOut() {
    const before = Promise.all([settled(pending), settled(outgoing)]);
    pending = null;  // a signIn() from now on is a new attempt, made after this sign-out
    const run = before.then(revokeAndLogOut);
    outgoing = run;
    settled(run).then(() => { if (outgoing === run) { outgoing = null; } });
    return run;
  }

  async function revokeAndLogOut() {
    let user = null;
    try { user = await CometChat.getLoggedinUser(); } catch (error) { user = null; }
    const uid = uidOf(user);
    const result = { uid, deviceId, revoked: false, serverReached: false, error: null };
    if (uid) {
      const url = new URL(prefix + SESSIONS_PATH + encodeURIComponent(uid) + "/sessions/" +
        encodeURIComponent(deviceId), tokenEndpoint.origin);
      try {
        const answer = await request("DELETE", url);
        result.serverReached = true;
        result.revoked = answer.revoked === true;
      } catch (error) {
        result.serverReached = error.status !== undefined;
        result.error = { code: error.code, message: error.message };
      }
    }
    const failures = [];
    if (user) {
      try { await CometChat.logout(); } catch (error) { failures.push(sdkError(error, "SDK_ERROR")); }
    }
    if (CometChatCalls && CometChatCalls.isUserLoggedIn()) {
      try { await CometChatCalls.logout(); } catch (error) { failures.push(sdkError(error, "CALLS_SDK_ERROR")); }
    }
    if (failures.length) {
      failures[0].result = result;
      throw failures[0];
    }
    return result;
  }

  return Object.freeze({ signIn, signOut, deviceId });
}

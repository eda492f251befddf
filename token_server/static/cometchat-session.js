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
 * signIn(): CometChat.getLoggedinUser(); a saved session resolves with no request. Otherwise
 * POST tokenUrl {deviceId}, then CometChat.login(authToken); when the SDK refuses that token
 * (AUTH_ERR_AUTH_TOKEN_NOT_FOUND or another auth-token error) one retry with {deviceId,
 * fresh: true}. The Calls SDK v5, when given, signs in with the same token
 * (CometChatCalls.loginWithAuthToken). Concurrent calls share one attempt.
 * signOut(): DELETE /api/cometchat/users/<uid>/sessions/<deviceId> on tokenUrl's origin with
 * the same headers, then logout() of each SDK, even when the server cannot be reached; the
 * result says whether the server revoked the token.
 * Every failure rejects with a SessionError whose `code` is the token server's error code,
 * the SDK's, or one of this module's: NETWORK_ERROR, TIMEOUT, BAD_RESPONSE, HEADERS_FAILED
 * (headers() threw without a code of its own).
 * Options beside the contract's: `timeoutMs` (each request to the token server, default
 * 15000) and `fetch` (default the browser's; the demo page passes one that shows each call).
 */

const DEVICE_KEY = "cometchat-session:deviceId";
const DEVICE_RE = /^[A-Za-z0-9_-]{1,100}$/;
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
  const deviceId = loadDeviceId(storage);
  let pending = null;  // the signIn() attempt in flight, shared by concurrent callers

  // The caller's headers; a headers() that fails (an identity provider down) rejects with its code.
  async function extraHeaders() {
    try {
      const value = typeof headers === "function" ? await headers() : headers;
      return value || {};
    } catch (error) {
      throw sdkError(error, "HEADERS_FAILED");
    }
  }

  // One JSON request to the token server, bounded by timeoutMs.
  async function request(method, url, body) {
    const init = { method, headers: { Accept: "application/json", ...(await extraHeaders()) } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const controller = typeof AbortController === "function" ? new AbortController() : null;
    if (controller) { init.signal = controller.signal; }
    const timer = controller ? setTimeout(() => controller.abort(), timeoutMs) : null;
    let response;
    try {
      response = await send(url.toString(), init);
    } catch (error) {
      const code = controller && controller.signal.aborted ? "TIMEOUT" : "NETWORK_ERROR";
      throw new SessionError(code, code === "TIMEOUT" ? "The token server did not answer in time." :
        "Cannot reach the token server.", { cause: error });
    } finally {
      if (timer) { clearTimeout(timer); }
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
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

  function signIn() {
    if (!pending) {
      pending = attempt().finally(() => { pending = null; });
    }
    return pending;
  }

  async function signOut() {
    if (pending) { await pending.catch(() => null); }
    let user = null;
    try { user = await CometChat.getLoggedinUser(); } catch (error) { user = null; }
    const uid = uidOf(user);
    const result = { uid, deviceId, revoked: false, serverReached: false, error: null };
    if (uid) {
      const url = new URL(SESSIONS_PATH + encodeURIComponent(uid) + "/sessions/" + encodeURIComponent(deviceId),
        tokenEndpoint.origin);
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

/*
 * An offline stand-in for the auth surface of CometChat's Calls SDK v5 (window.CometChatCalls),
 * for the demo page in emulator mode: init, login, loginWithAuthToken, getLoggedInUser,
 * isUserLoggedIn, getUserAuthToken, logout, addLoginListener / removeLoginListener, and
 * generateToken. It makes the calls v5 makes, against the embedded emulator:
 *   loginWithAuthToken(t): PUT {clientHost}/me, header authToken, body {platform: "web", deviceId}
 *   login(uid, authKey):   POST {adminHost}/users/{uid}/auth_tokens with the key, then as above
 *   logout():              DELETE {clientHost}/me (its errors ignored), local storage cleared
 *   generateToken(sid):    POST {host}/call_tokens {sessionId} -> {token}
 * The session is kept in local storage (getLoggedInUser() is synchronous, as in v5). Errors
 * carry v5's documented codes as `errorCode` with `errorDescription`; a refusal from the API
 * carries the API's code (e.g. AUTH_ERR_AUTH_TOKEN_NOT_FOUND). Like v5, the stand-in reads the
 * body's `error` and ignores the HTTP status.
 */
(function () {
  "use strict";
  var REGIONS = ["us", "eu", "in"];
  var DEVICE_KEY = "cometchat-calls-standin:deviceId";
  var listeners = new Map();
  var settings = null;  // after init(): {appId, region, authKey, adminHost, clientHost, host}
  var loginInProgress = false;
  var session = null;  // {user: {uid, name, avatar}, authToken}

  var MESSAGES = {
    ERROR_SDK_NOT_INITIALIZED: "Please call CometChatCalls.init() before calling any other method.",
    ERROR_LOGIN_IN_PROGRESS: "Please wait until the previous login request ends.",
    ERROR_BLANK_AUTHTOKEN: "The auth token cannot be blank.",
    ERROR_AUTHTOKEN_WITH_SPACE: "The auth token cannot contain spaces.",
    ERROR_INVALID_UID: "The UID cannot be blank.",
    ERROR_UID_WITH_SPACE: "The UID cannot contain spaces.",
    ERROR_API_KEY_NOT_FOUND: "An Auth Key is needed to log in with a UID.",
    ERROR_NO_USER_LOGGED_IN: "No user is logged in to the Calls SDK."
  };

  function CallsError(code, description) {
    this.errorCode = code;
    this.errorDescription = description || MESSAGES[code] || code;
    this.message = this.errorDescription;
    this.name = "CometChatCallsException";
  }

  function fail(code, description) {
    var error = new CallsError(code, description);
    return Promise.reject(error);
  }

  function storageKey() { return "cometchat-calls-standin:" + settings.appId + ":session"; }

  function deviceId() {
    var id = localStorage.getItem(DEVICE_KEY);
    if (!id) {
      var bytes = new Uint8Array(16);
      crypto.getRandomValues(bytes);
      id = Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
      localStorage.setItem(DEVICE_KEY, id);
    }
    return id;
  }

  function notify(event, payload) {
    listeners.forEach(function (listener) {
      if (listener && typeof listener[event] === "function") {
        try { listener[event](payload); } catch (e) { console.error(e); }
      }
    });
  }

  function userOf(data) {
    return { uid: data.uid, name: data.name, avatar: data.avatar };
  }

  // One JSON call; the answer's `error` (never its status) decides, as in v5.
  function call(method, url, headers, body) {
    var init = { method: method, headers: Object.assign({ appId: settings.appId }, headers) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init)
      .catch(function () { throw new CallsError("ERROR_NETWORK", "Could not reach the calls service."); })
      .then(function (response) { return response.json().catch(function () { return {}; }); })
      .then(function (answer) {
        if (answer && answer.error) { throw new CallsError(answer.error.code, answer.error.message); }
        return (answer && answer.data) || {};
      });
  }

  function authenticate(authToken) {
    if (settings === null) { return fail("ERROR_SDK_NOT_INITIALIZED"); }
    if (loginInProgress) { return fail("ERROR_LOGIN_IN_PROGRESS"); }
    if (typeof authToken !== "string" || !authToken.trim()) { return fail("ERROR_BLANK_AUTHTOKEN"); }
    if (/\s/.test(authToken)) { return fail("ERROR_AUTHTOKEN_WITH_SPACE"); }
    if (session && session.authToken === authToken) { return Promise.resolve(session.user); }  // no call
    loginInProgress = true;
    return call("PUT", settings.clientHost + "/me", { authToken: authToken }, { platform: "web", deviceId: deviceId() })
      .then(function (data) {
        if (!data.uid || !data.name) { throw new CallsError("ERROR_INVALID_RESPONSE", "The login answer has no user."); }
        session = { user: userOf(data), authToken: authToken };
        localStorage.setItem(storageKey(), JSON.stringify(session));
        notify("onLoginSuccess", session.user);
        return session.user;
      }, function (error) {
        notify("onLoginFailure", error);
        throw error;
      })
      .finally(function () { loginInProgress = false; });
  }

  var CometChatCalls = {
    isStandIn: true,
    // Resolves {success, error} and never throws, as v5's init does.
    init: function (appSettings) {
      var s = appSettings || {};
      var region = typeof s.region === "string" ? s.region.toLowerCase() : "";
      if (typeof s.appId !== "string" || !s.appId || REGIONS.indexOf(region) < 0) {
        return Promise.resolve({ success: false, error: { name: "VALIDATION_ERROR",
          message: "Invalid app settings: appId and region (us, eu or in) are required", timestamp: Date.now() } });
      }
      settings = {
        appId: s.appId, region: region, authKey: s.authKey || null,
        adminHost: s.adminHost || "https://" + s.appId + ".api-" + region + ".cometchat.io/v3.0",
        clientHost: s.clientHost || "https://" + s.appId + ".apiclient-" + region + ".cometchat.io/v3.0",
        host: s.host || "https://" + s.appId + ".call-" + region + ".cometchat.io/v3.0"
      };
      try { session = JSON.parse(localStorage.getItem(storageKey()) || "null"); } catch (e) { session = null; }
      return Promise.resolve({ success: true, error: null });
    },
    // Development only: mints with the Auth Key in the browser, as v5 does.
    login: function (uid, authKey) {
      if (settings === null) { return fail("ERROR_SDK_NOT_INITIALIZED"); }
      if (typeof uid !== "string" || !uid.trim()) { return fail("ERROR_INVALID_UID"); }
      if (/\s/.test(uid)) { return fail("ERROR_UID_WITH_SPACE"); }
      var key = authKey || settings.authKey;
      if (!key) { return fail("ERROR_API_KEY_NOT_FOUND"); }
      if (loginInProgress) { return fail("ERROR_LOGIN_IN_PROGRESS"); }
      return call("POST", settings.adminHost + "/users/" + encodeURIComponent(uid) + "/auth_tokens", { apikey: key })
        .then(function (data) { return authenticate(data.authToken); },
          function (error) { notify("onLoginFailure", error); throw error; });
    },
    loginWithAuthToken: authenticate,
    getLoggedInUser: function () { return session ? Object.assign({}, session.user) : null; },
    isUserLoggedIn: function () { return session !== null; },
    getUserAuthToken: function () { return session ? session.authToken : null; },
    logout: function () {
      if (settings === null) { return fail("ERROR_SDK_NOT_INITIALIZED"); }
      if (session === null) {
        var error = new CallsError("ERROR_NO_USER_LOGGED_IN");
        notify("onLogoutFailure", error);
        return Promise.reject(error);
      }
      var token = session.authToken;
      session = null;
      localStorage.removeItem(storageKey());
      var done = function () { notify("onLogoutSuccess"); return "Logged out successfully"; };
      return call("DELETE", settings.clientHost + "/me", { authToken: token }).then(done, done);  // errors ignored
    },
    generateToken: function (sessionId, authToken) {
      if (settings === null) { return fail("ERROR_SDK_NOT_INITIALIZED"); }
      var token = authToken || (session && session.authToken);
      if (!token) { return fail("ERROR_NO_USER_LOGGED_IN"); }
      return call("POST", settings.host + "/call_tokens", { authToken: token }, { sessionId: sessionId })
        .then(function (data) { return { token: data.token }; });
    },
    addLoginListener: function (id, listener) { listeners.set(id, listener); },
    removeLoginListener: function (id) { listeners.delete(id); }
  };

  window.CometChatCalls = CometChatCalls;
})();

/*
 * The demo page: the documented CometChat login flow.
 * init -> getLoggedinUser() (a saved session skips login) -> sign up (POST /users: user +
 * first token in one call) or sign in (GET /users/<uid>, then POST /token/<uid>) ->
 * CometChat.login(authToken) -> show the user -> Log out: CometChat.logout() and revoke
 * this device's token on the server.
 */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("demo-config").textContent);
  var UID_RE = /^[A-Za-z0-9_-]{1,100}$/;
  var LISTENER_ID = "demo-login-listener";
  var TOKEN_KEY = "cometchat-demo:authToken";
  var $ = function (id) { return document.getElementById(id); };

  var MESSAGES = {
    ERR_BAD_REQUEST: "That UID is not valid: use 1 to 100 letters, digits, '_' or '-'.",
    ERR_UID_NOT_FOUND: "There is no user with that UID yet. Enter a name and choose Sign up.",
    ERR_UID_ALREADY_EXISTS: "That UID is already taken. Choose Sign in instead, or pick another UID.",
    ERR_UNAUTHORIZED: "The token server refused this page: it is not in dev mode.",
    ERR_TOO_MANY_REQUESTS: "Too many attempts. Wait a minute and try again.",
    ERR_UPSTREAM_UNAVAILABLE: "The chat service is unavailable right now. Try again in a moment.",
    ERR_UPSTREAM_RATE_LIMITED: "The chat service is busy right now. Try again in a moment.",
    ERR_UPSTREAM_TIMEOUT: "The chat service took too long to answer. Try again.",
    ERR_UPSTREAM_BAD_RESPONSE: "The chat service answered with an error. Try again later.",
    ERR_UPSTREAM_MISCONFIGURED: "The token server's CometChat credentials are wrong. Tell whoever runs it.",
    AUTH_ERR_AUTH_TOKEN_NOT_FOUND: "The chat service did not accept the login token. Sign in again.",
    NETWORK: "Cannot reach the token server. Check that it is running, then try again.",
    SDK_MISSING: "The CometChat chat SDK could not be loaded (offline, or blocked by the browser), so login is not possible."
  };

  function friendly(error) {
    var code = error && error.code;
    if (code && MESSAGES[code]) { return MESSAGES[code]; }
    if (code === "ERR_BODY_TOO_LARGE") { return "That is too much text."; }
    return "Something went wrong (" + (code || "unknown error") + "). Try again.";
  }

  function showError(error) {
    var box = $("error");
    box.textContent = typeof error === "string" ? error : friendly(error);
    box.hidden = false;
  }
  function clearError() { $("error").hidden = true; $("error").textContent = ""; }
  function setStatus(text) { $("status").textContent = text; }
  function setBusy(busy) {
    document.querySelectorAll("button").forEach(function (b) { b.disabled = busy; });
  }

  function logEvent(name, detail) {
    var item = document.createElement("li");
    var time = new Date().toLocaleTimeString();
    item.textContent = time + " " + name + (detail ? ": " + detail : "");
    item.dataset.event = name;
    $("events").appendChild(item);
  }

  function api(method, path, body) {
    var options = { method: method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(config.apiBase + path, options)
      .catch(function () { throw { code: "NETWORK" }; })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (!response.ok) { throw (data && data.error) || { code: "HTTP_" + response.status }; }
          return data;
        });
      });
  }

  function showUser(user) {
    $("login").hidden = true;
    $("profile").hidden = false;
    $("user-uid").textContent = user.getUid();
    $("user-name").textContent = user.getName();
    $("user-status").textContent = user.getStatus ? (user.getStatus() || "unknown") : "unknown";
    var avatar = user.getAvatar && user.getAvatar();
    var img = $("user-avatar");
    var initials = $("user-initials");
    initials.textContent = (user.getName() || user.getUid()).split(/\s+/).map(function (w) { return w.charAt(0); })
      .join("").slice(0, 2).toUpperCase();
    initials.hidden = false;
    img.hidden = true;
    img.onload = function () { img.hidden = false; initials.hidden = true; };
    img.onerror = function () { img.hidden = true; initials.hidden = false; };  // offline: keep the initials
    if (avatar && /^https?:\/\//.test(avatar)) {
      img.alt = "Avatar of " + user.getName();
      img.src = avatar;
    } else {
      img.removeAttribute("src");
    }
    setStatus("Signed in as " + user.getUid() + ".");
  }

  function showLogin() {
    $("profile").hidden = true;
    $("login").hidden = false;
    setStatus("Not signed in.");
  }

  function loginWith(authToken) {
    localStorage.setItem(TOKEN_KEY, authToken);
    return window.CometChat.login(authToken).then(showUser);
  }

  function readUid() {
    var uid = $("uid").value.trim();
    if (!UID_RE.test(uid)) { throw { code: "ERR_BAD_REQUEST" }; }
    return uid;
  }

  function run(action) {
    clearError();
    setBusy(true);
    return Promise.resolve()
      .then(action)
      .catch(showError)
      .then(function () {
        setBusy(false);
        // Keyboard users land on the next thing to do (a disabled button cannot take focus).
        if (!$("profile").hidden) { $("logout").focus(); }
        else if (document.activeElement === document.body) { $("uid").focus(); }
      });
  }

  function signIn(uid) {
    return run(function () {
      uid = uid || readUid();
      setStatus("Signing in as " + uid + "…");
      // Check the user exists first: the demo's Sign in never creates users by accident.
      return api("GET", "/users/" + encodeURIComponent(uid))
        .then(function () { return api("POST", "/token/" + encodeURIComponent(uid)); })
        .then(function (answer) { return loginWith(answer.authToken); })
        .catch(function (error) { setStatus("Not signed in."); throw error; });
    });
  }

  function signUp() {
    return run(function () {
      var uid = readUid();
      var name = $("name").value.trim();
      if (!name) { $("name").focus(); throw "Enter a name to sign up."; }
      setStatus("Creating " + uid + "…");
      return api("POST", "/users", { uid: uid, name: name })
        .then(function (answer) { return loginWith(answer.authToken); })
        .catch(function (error) { setStatus("Not signed in."); throw error; });
    });
  }

  function logOut() {
    return run(function () {
      var uid = $("user-uid").textContent;
      var token = localStorage.getItem(TOKEN_KEY);
      return window.CometChat.logout().then(function () {
        localStorage.removeItem(TOKEN_KEY);
        showLogin();
        if (token && uid) {
          // This device's logout: revoke its token so it cannot be replayed.
          return api("POST", "/token/" + encodeURIComponent(uid) + "/revoke", { authToken: token })
            .catch(function (error) {
              if (error.code !== "ERR_AUTH_TOKEN_NOT_FOUND") { throw error; }
            });
        }
      });
    });
  }

  function start() {
    $("login-form").addEventListener("submit", function (event) { event.preventDefault(); signIn(); });
    $("sign-up").addEventListener("click", signUp);
    $("logout").addEventListener("click", logOut);
    document.querySelectorAll(".test-user").forEach(function (button) {
      button.addEventListener("click", function () { $("uid").value = button.dataset.uid; signIn(button.dataset.uid); });
    });

    var SDK = window.CometChat;
    if (!SDK || typeof SDK.init !== "function") {
      setStatus("The chat SDK is not available.");
      showError(MESSAGES.SDK_MISSING);
      return;
    }
    SDK.addLoginListener(LISTENER_ID, new SDK.LoginListener({
      loginSuccess: function (user) { logEvent("loginSuccess", user && user.getUid ? user.getUid() : ""); },
      loginFailure: function (error) { logEvent("loginFailure", error && error.code); },
      logoutSuccess: function () { logEvent("logoutSuccess"); },
      logoutFailure: function (error) { logEvent("logoutFailure", error && error.code); }
    }));
    window.addEventListener("pagehide", function () { SDK.removeLoginListener(LISTENER_ID); });

    var settings = new SDK.AppSettingsBuilder()
      .subscribePresenceForAllUsers()
      .setRegion(config.region)
      .autoEstablishSocketConnection(true)
      .build();
    SDK.init(config.appId, settings)
      .then(function () { return SDK.getLoggedinUser(); })
      .then(function (user) { if (user) { showUser(user); } else { showLogin(); } })
      .catch(function (error) { showLogin(); showError(error); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

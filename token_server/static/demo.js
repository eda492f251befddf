/*
 * The demo page: the documented CometChat login flow.
 * init -> getLoggedinUser() (a saved session skips login) -> sign up (POST /users: user +
 * first token in one call) or sign in -> CometChat.login(authToken) -> show the user ->
 * Log out: CometChat.logout() and revoke this device's token on the server.
 * Two ways to sign in: as a trusted backend (dev mode: GET /users/<uid>, then
 * POST /token/<uid>) or as a single-page app in production (a user JWT from the dev-mode
 * helper, then POST /token with Authorization: Bearer <jwt>). Every step is shown in the
 * flow panel (flow.js).
 */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("demo-config").textContent);
  var UID_RE = /^[A-Za-z0-9_-]{1,100}$/;
  var LISTENER_ID = "demo-login-listener";
  var TOKEN_KEY = "cometchat-demo:authToken";
  var CALLER_KEY = "cometchat-demo:caller";
  var $ = function (id) { return document.getElementById(id); };
  var flow = window.DemoFlow;
  var jwt = null;  // the single-page app's user JWT {token, uid, expiresAt}, in memory only
  var JWT_MARGIN_MS = 30000;  // fetch a new JWT this long before the old one expires
  var CALLERS = {
    backend: "as a trusted backend (dev mode)",
    spa: "as a single-page app (production, user JWT)"
  };

  var MESSAGES = {
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

  function traceOf(response) {
    try { return JSON.parse(response.headers.get(config.traceHeader) || "null"); } catch (e) { return null; }
  }

  // One call to the token server, shown in the flow panel with what it did upstream.
  // ``describe(data)`` says in words what the answer held (secrets masked).
  function call(method, route, body, bearer, describe) {
    var options = { method: method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    if (bearer) { options.headers.Authorization = "Bearer " + bearer; }
    var step = flow.server(method, route, bearer ? "Authorization: Bearer " + flow.mask(bearer) : "");
    return fetch(route, options)
      .catch(function () { step.end("no answer", false); throw { code: "NETWORK" }; })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          var error = !response.ok && ((data && data.error) || { code: "HTTP_" + response.status });
          var words = error ? error.code : (describe ? describe(data) : "");
          var id = response.headers.get("X-Request-ID");
          step.end(String(response.status), response.ok, words + (id ? "  (request " + id + ")" : ""));
          var trace = traceOf(response);
          if (trace) { step.upstream(trace); }
          if (error) { throw error; }
          return data;
        });
      });
  }

  function api(method, path, body, bearer, describe) {
    return call(method, config.apiBase + path, body, bearer, describe);
  }

  function gotToken(data) { return "uid " + data.uid + ", authToken " + flow.mask(data.authToken); }

  function showUser(user) {
    $("login").hidden = true;
    $("profile").hidden = false;
    $("user-uid").textContent = user.getUid();
    $("user-name").textContent = user.getName();
    $("user-status").textContent = user.getStatus ? (user.getStatus() || "unknown") : "unknown";
    var avatar = shownAvatar(user.getAvatar && user.getAvatar());
    var img = $("user-avatar");
    var initials = $("user-initials");
    initials.textContent = (user.getName() || user.getUid()).split(/\s+/).map(function (w) { return w.charAt(0); })
      .join("").slice(0, 2).toUpperCase();
    initials.hidden = false;
    img.hidden = true;
    img.onload = function () { img.hidden = false; initials.hidden = true; };
    img.onerror = function () { img.hidden = true; initials.hidden = false; };  // a broken image: keep the initials
    if (avatar) {
      img.alt = "Avatar of " + user.getName();
      img.src = avatar;
    } else {
      img.removeAttribute("src");
    }
    setStatus("Signed in as " + user.getUid() + ".");
  }

  // Only images this mode may show: our own, or the hosts the page's policy lists (none
  // offline, where a test user's CDN avatar becomes initials).
  function shownAvatar(url) {
    if (typeof url !== "string" || !url) { return null; }
    var parsed;
    try { parsed = new URL(url, location.href); } catch (e) { return null; }
    if (parsed.origin === location.origin) { return parsed.href; }
    return parsed.protocol === "https:" && config.imageHosts.indexOf(parsed.host) >= 0 ? parsed.href : null;
  }

  function explain(uid, how) {
    var why = how === "spa"
      ? "The server used the uid in the JWT's sub claim. The route names no uid, and the page " +
        "cannot change the claim: the server checks the JWT's signature, and asking for another " +
        "user with this JWT is refused."
      : "The page named the uid in the route, and dev mode trusts this page as production trusts " +
        "a backend holding a service key. An end user's browser in production cannot do this.";
    $("why-uid").textContent = "Token minted for " + uid + ". " + why;
    var other = config.testUids.filter(function (u) { return u !== uid.toLowerCase(); })[0];
    $("try-other").hidden = how !== "spa";
    $("try-other").textContent = "Ask for another user's token with this JWT";
    $("try-other").dataset.uid = other;
    $("try-other-result").hidden = true;
  }

  function showLogin() {
    $("profile").hidden = true;
    $("login").hidden = false;
    setStatus("Not signed in.");
  }

  function caller() {
    var checked = document.querySelector("input[name=caller]:checked");
    return checked ? checked.value : "backend";
  }

  function loginWith(authToken, how) {
    localStorage.setItem(TOKEN_KEY, authToken);
    localStorage.setItem(CALLER_KEY, how);
    var step = flow.sdk("CometChat.login(\"" + flow.mask(authToken) + "\")");
    return window.CometChat.login(authToken).then(
      function (user) {
        step.end("ok", true, "logged in as " + user.getUid());
        showUser(user);
        explain(user.getUid(), how);
      },
      function (error) { step.end("failed", false, error && error.code); throw error; }
    );
  }

  // The production path's first step: a user JWT. Here the dev-mode helper signs it; in
  // production the app's identity provider does, and the token server only verifies it.
  function userJwt(uid) {
    return call("POST", config.devJwtRoute, { uid: uid }, null, function (data) {
      return "jwt " + flow.mask(data.jwt) + " for uid " + data.uid + ", expires in " + data.expiresIn + " s";
    }).then(function (data) {
      jwt = { token: data.jwt, uid: data.uid, expiresAt: Date.now() + data.expiresIn * 1000 };
      return data.jwt;
    });
  }

  // The JWT this page already holds for ``uid`` while it is still good, else a new one.
  function jwtFor(uid) {
    var fresh = jwt && jwt.uid === uid.toLowerCase() && Date.now() < jwt.expiresAt - JWT_MARGIN_MS;
    return fresh ? Promise.resolve(jwt.token) : userJwt(uid);
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
      var how = caller();
      setStatus("Signing in as " + uid + "…");
      flow.begin("Sign in as " + uid, CALLERS[how]);
      var minted;
      if (how === "spa") {
        // The production path: the server reads the uid from the JWT; a first login creates the user.
        var name = $("name").value.trim();
        minted = userJwt(uid).then(function (token) {
          return api("POST", "/token", name ? { name: name } : {}, token, gotToken);
        });
      } else {
        // Check the user exists first: the demo's Sign in never creates users by accident.
        minted = api("GET", "/users/" + encodeURIComponent(uid), undefined, null, function (data) {
          return "user " + data.user.uid + " exists";
        }).then(function () { return api("POST", "/token/" + encodeURIComponent(uid), undefined, null, gotToken); });
      }
      return minted
        .then(function (answer) { return loginWith(answer.authToken, how); })
        .catch(function (error) { setStatus("Not signed in."); throw error; });
    });
  }

  function signUp() {
    return run(function () {
      var uid = readUid();
      var name = $("name").value.trim();
      if (!name) { $("name").focus(); throw "Enter a name to sign up."; }
      var how = caller();
      setStatus("Creating " + uid + "…");
      flow.begin("Sign up as " + uid, CALLERS[how]);
      var bearer = how === "spa" ? userJwt(uid) : Promise.resolve(null);
      return bearer
        .then(function (token) {
          return api("POST", "/users", { uid: uid, name: name }, token, function (data) {
            return "created " + data.user.uid + ", authToken " + flow.mask(data.authToken);
          });
        })
        .then(function (answer) { return loginWith(answer.authToken, how); })
        .catch(function (error) { setStatus("Not signed in."); throw error; });
    });
  }

  function logOut() {
    return run(function () {
      var uid = $("user-uid").textContent;
      var token = localStorage.getItem(TOKEN_KEY);
      var how = localStorage.getItem(CALLER_KEY) === "spa" ? "spa" : "backend";
      flow.begin("Log out " + uid, CALLERS[how]);
      var step = flow.sdk("CometChat.logout()");
      return window.CometChat.logout().then(function () {
        step.end("ok", true);
        localStorage.removeItem(TOKEN_KEY);
        localStorage.removeItem(CALLER_KEY);
        showLogin();
        if (token && uid) {
          // This device's logout: revoke its token so it cannot be replayed.
          var bearer = how === "spa" ? jwtFor(uid) : Promise.resolve(null);
          return bearer
            .then(function (credential) {
              jwt = null;
              return api("POST", "/token/" + encodeURIComponent(uid) + "/revoke", { authToken: token }, credential,
                function (data) { return "revoked " + flow.mask(token) + " (" + data.revoked + ")"; });
            })
            .catch(function (error) {
              if (error.code !== "ERR_AUTH_TOKEN_NOT_FOUND") { throw error; }
            });
        }
      }, function (error) { step.end("failed", false, error && error.code); throw error; });
    });
  }

  // The production path's guarantee, shown: this JWT gets no token for anyone else.
  function tryOther() {
    var other = $("try-other").dataset.uid;
    var result = $("try-other-result");
    clearError();
    flow.begin("Ask for " + other + "'s token with " + $("user-uid").textContent + "'s JWT", CALLERS.spa);
    var bearer = jwtFor($("user-uid").textContent);
    return bearer
      .then(function (token) { return api("POST", "/token/" + encodeURIComponent(other), {}, token, gotToken); })
      .then(
        function () { result.textContent = "The server minted a token for " + other + ". It should not have."; },
        function (error) {
          result.textContent = "Refused (" + (error.code || "error") + "): a JWT for " + $("user-uid").textContent +
            " gets tokens for " + $("user-uid").textContent + " only.";
        }
      )
      .then(function () { result.hidden = false; });
  }

  function start() {
    $("login-form").addEventListener("submit", function (event) { event.preventDefault(); signIn(); });
    $("sign-up").addEventListener("click", signUp);
    $("logout").addEventListener("click", logOut);
    $("try-other").addEventListener("click", tryOther);
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
      .then(function (user) {
        if (!user) { showLogin(); return; }
        // A saved session: no login happens, so no listener event fires; say so ourselves.
        logEvent("sessionRestored", user.getUid() + " (getLoggedinUser(): saved session, no new login)");
        flow.begin("Page loaded: session restored");
        flow.sdk("CometChat.getLoggedinUser()").end("ok", true, "saved session for " + user.getUid());
        showUser(user);
        explain(user.getUid(), localStorage.getItem(CALLER_KEY) === "spa" ? "spa" : "backend");
      })
      .catch(function (error) { showLogin(); showError(error); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

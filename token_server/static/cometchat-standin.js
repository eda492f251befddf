/*
 * An offline stand-in for the CometChat chat SDK (window.CometChat), for the demo page in
 * emulator mode. The real SDK needs CometChat's servers; this one has the same surface the
 * demo uses (init, login(authToken), getLoggedinUser, logout, addLoginListener,
 * removeLoginListener, AppSettingsBuilder, LoginListener, User getters), checks the token
 * against the embedded emulator (PUT {emulatorUrl}/me, as the SDK does against CometChat),
 * and keeps the session in local storage as the real SDK does. Where the real SDK opens and
 * closes its WebSocket (CometChat then reports the user online or offline, by webhook too),
 * this one calls the emulator's PUT / DELETE {emulatorUrl}/me/connection; their errors are
 * ignored, as a socket's are by the login and logout promises.
 * The Calls SDK v5's auth surface (window.CometChatCalls) is in cometchat-calls-standin.js.
 */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("demo-config").textContent);
  var listeners = new Map();
  var appId = null;
  var loginInProgress = false;

  function storageKey() { return "cometchat-standin:" + (appId || config.appId) + ":session"; }

  function CometChatException(code, message, details) {
    this.code = code; this.name = code; this.message = message; this.details = details || {};
  }

  function User(data, authToken) {
    this.uid = data.uid; this.name = data.name; this.avatar = data.avatar; this.status = data.status;
    this.role = data.role; this.metadata = data.metadata; this.authToken = authToken || null;
  }
  User.prototype.getUid = function () { return this.uid; };
  User.prototype.getName = function () { return this.name; };
  User.prototype.getAvatar = function () { return this.avatar; };
  User.prototype.getStatus = function () { return this.status; };
  User.prototype.getRole = function () { return this.role; };
  User.prototype.getAuthToken = function () { return this.authToken; };

  function AppSettingsBuilder() { this.settings = { region: "us", presence: null, autoSocket: true }; }
  AppSettingsBuilder.prototype.subscribePresenceForAllUsers = function () { this.settings.presence = "all"; return this; };
  AppSettingsBuilder.prototype.setRegion = function (region) { this.settings.region = region; return this; };
  AppSettingsBuilder.prototype.autoEstablishSocketConnection = function (on) { this.settings.autoSocket = !!on; return this; };
  AppSettingsBuilder.prototype.build = function () { return Object.assign({}, this.settings); };

  function LoginListener(handlers) {
    handlers = handlers || {};
    this.loginSuccess = handlers.loginSuccess; this.loginFailure = handlers.loginFailure;
    this.logoutSuccess = handlers.logoutSuccess; this.logoutFailure = handlers.logoutFailure;
  }

  // The stand-in's socket: opened after login, closed on logout; never fails the caller and
  // never waits longer than a few seconds.
  function socket(method, authToken) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, 5000) : null;
    return fetch(config.emulatorUrl + "/me/connection", {
      method: method, headers: { authToken: authToken }, signal: controller ? controller.signal : undefined
    }).then(function () {}, function () {}).finally(function () { if (timer) { clearTimeout(timer); } });
  }

  function emit(event, payload) {
    listeners.forEach(function (listener) {
      if (typeof listener[event] === "function") {
        try { listener[event](payload); } catch (e) { console.error(e); }
      }
    });
  }

  function requireInit() {
    if (appId === null) {
      throw new CometChatException("SDK_NOT_INITIALIZED", "Please call the CometChat.init() method before calling any other method.");
    }
  }

  var CometChat = {
    isStandIn: true,
    AppSettingsBuilder: AppSettingsBuilder,
    LoginListener: LoginListener,
    User: User,
    CometChatException: CometChatException,
    init: function (id, settings) {
      if (!id) { return Promise.reject(new CometChatException("INVALID_APP_ID", "The appId is required.")); }
      appId = id;
      return Promise.resolve(true);
    },
    login: function (authToken) {
      try { requireInit(); } catch (e) { return Promise.reject(e); }
      if (typeof authToken !== "string" || !authToken) {
        var missing = new CometChatException("MISSING_PARAMETERS", "AUTH_TOKEN is required for login.");
        emit("loginFailure", missing);
        return Promise.reject(missing);
      }
      if (loginInProgress) {
        return Promise.reject(new CometChatException("LOGIN_IN_PROGRESS", "Please wait until the previous login request ends."));
      }
      loginInProgress = true;
      return fetch(config.emulatorUrl + "/me", { method: "PUT", headers: { authToken: authToken } })
        .catch(function () {
          throw new CometChatException("FAILED_TO_FETCH", "Could not reach the chat service.");
        })
        .then(function (response) {
          return response.json().catch(function () { return {}; }).then(function (body) {
            if (!response.ok) {
              var error = (body && body.error) || {};
              throw new CometChatException(error.code || "ERR_LOGIN", error.message || "Login failed.", error.details);
            }
            var user = new User(body.data, authToken);
            localStorage.setItem(storageKey(), JSON.stringify({ user: body.data, authToken: authToken }));
            socket("PUT", authToken);
            emit("loginSuccess", user);
            return user;
          });
        })
        .catch(function (error) {
          if (!(error instanceof CometChatException)) {
            error = new CometChatException("ERR_LOGIN", String(error && error.message || error));
          }
          emit("loginFailure", error);
          throw error;
        })
        .finally(function () { loginInProgress = false; });
    },
    getLoggedinUser: function () {
      try { requireInit(); } catch (e) { return Promise.reject(e); }
      var saved = null;
      try { saved = JSON.parse(localStorage.getItem(storageKey()) || "null"); } catch (e) { saved = null; }
      return Promise.resolve(saved && saved.user ? new User(saved.user, saved.authToken) : null);
    },
    logout: function () {
      try { requireInit(); } catch (e) { return Promise.reject(e); }
      var saved = null;
      try { saved = JSON.parse(localStorage.getItem(storageKey()) || "null"); } catch (e) { saved = null; }
      localStorage.removeItem(storageKey());
      var closed = saved && saved.authToken ? socket("DELETE", saved.authToken) : Promise.resolve();
      return closed.then(function () {
        emit("logoutSuccess", {});
        return {};
      });
    },
    addLoginListener: function (id, listener) { listeners.set(id, listener); },
    removeLoginListener: function (id) { listeners.delete(id); }
  };

  window.CometChat = CometChat;
})();

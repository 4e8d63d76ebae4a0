// The web chat: a visitor session, the chat WebSocket (shared/reference/
// bot-package.md, "Chat over WebSocket"), streamed answers, suggestions,
// switchers, hand-off and reconnecting where the stream left off. Untrusted
// text reaches the page only as textContent or through renderMarkdown,
// which escapes it first.
(function () {
  "use strict";

  var BOT_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
  var $ = function (id) { return document.getElementById(id); };
  var ui = {
    title: $("title"), logo: $("logo"), status: $("status"), handoff: $("handoff"), log: $("log"),
    typing: $("typing"), switchers: $("switchers"), suggestions: $("suggestions"),
    composer: $("composer"), input: $("input"), send: $("send"), pick: $("pick")
  };

  var state = {
    bot: "", token: "", session: "",
    ws: null, connected: false, everConnected: false, failures: 0, retryTimer: 0,
    lastId: "", lastChunk: 0,  // the last bot frame seen, for replay on reconnect
    messages: {},              // message_id → {el, text, chunk}
    active: [],                // ids of active switchers
    outbox: [],                // frames typed while disconnected
    typingTimer: 0
  };

  function botFromURL() {
    var m = /^\/chat\/([a-z0-9][a-z0-9-]{0,62})\/?$/.exec(location.pathname);
    if (m) {
      return m[1];
    }
    var q = new URLSearchParams(location.search).get("bot") || "";
    return BOT_RE.test(q) ? q : "";
  }

  function setStatus(text) { ui.status.textContent = text; }

  function scrollDown() { ui.log.scrollTop = ui.log.scrollHeight; }

  function addBubble(cls, text) {
    var el = document.createElement("div");
    el.className = "msg " + cls;
    if (cls === "user" || cls === "error") {
      el.textContent = text;
    } else {
      el.innerHTML = window.renderMarkdown(text);
    }
    ui.log.appendChild(el);
    scrollDown();
    return el;
  }

  function showTyping(on) {
    clearTimeout(state.typingTimer);
    ui.typing.hidden = !on;
    if (on) { // a lost answer must not leave the dots forever
      state.typingTimer = setTimeout(function () { ui.typing.hidden = true; }, 60000);
    }
  }

  // ---- theme ----

  function applyTheme(t) {
    if (t.title) {
      ui.title.textContent = t.title;
      document.title = t.title;
    }
    // The server sends hex colours only; check again before they reach CSS.
    var hex = /^#[0-9a-fA-F]{3,8}$/;
    if (t.color1 && hex.test(t.color1)) { document.documentElement.style.setProperty("--c1", t.color1); }
    if (t.color2 && hex.test(t.color2)) { document.documentElement.style.setProperty("--c2", t.color2); }
    if (t.logo && /^(https:\/\/|\/(?!\/))/.test(t.logo)) {
      ui.logo.src = t.logo;
      ui.logo.alt = t.title || "";
      ui.logo.hidden = false;
    }
    if (t.welcome_message && !ui.log.firstChild) {
      addBubble("bot", t.welcome_message);
    }
  }

  function loadTheme() {
    return fetch("/api/v1/bots/" + encodeURIComponent(state.bot) + "/theme")
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (t) { if (t) { applyTheme(t); } })
      .catch(function () { /* the default look will do */ });
  }

  // ---- session ----

  var storeKey = function () { return "botchat:" + state.bot; };

  function newSession() {
    return fetch("/api/v1/sessions", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ bot: state.bot })
    }).then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) {
          throw new Error((b && b.error && b.error.message) || ("HTTP " + r.status));
        }
        state.token = b.token;
        state.session = b.session_id;
        state.lastId = "";
        state.lastChunk = 0;
        try { sessionStorage.setItem(storeKey(), JSON.stringify({ token: b.token, session: b.session_id })); } catch (e) { /* private mode */ }
      });
    });
  }

  function restoreSession() {
    try {
      var s = JSON.parse(sessionStorage.getItem(storeKey()) || "null");
      if (s && s.token && s.session) {
        state.token = s.token;
        state.session = s.session;
        return true;
      }
    } catch (e) { /* ignore */ }
    return false;
  }

  function forgetSession() {
    try { sessionStorage.removeItem(storeKey()); } catch (e) { /* ignore */ }
    state.token = state.session = state.lastId = "";
    state.lastChunk = 0;
  }

  // history shows a restored conversation and sets where replay starts.
  function loadHistory() {
    return fetch("/api/v1/conversations/" + encodeURIComponent(state.session) + "/messages?limit=100", {
      headers: { Authorization: "Bearer " + state.token }
    }).then(function (r) {
      if (r.status === 401 || r.status === 404) {
        throw new Error("expired");
      }
      return r.ok ? r.json() : { messages: [] };
    }).then(function (h) {
      var msgs = h.messages || [];
      msgs.forEach(function (m) {
        if (m.role === "user") {
          addBubble("user", m.content);
        } else if (m.role === "bot" || m.role === "human") {
          if (m.content) { addBubble(m.role, m.content); }
          state.lastId = m.id;
          state.lastChunk = 0; // 0: all of a complete message was seen
        }
      });
      var last = msgs[msgs.length - 1];
      if (last && last.suggestions) { showSuggestions(last.suggestions); }
    });
  }

  // ---- socket ----

  function wsURL() {
    var q = new URLSearchParams({ bot: state.bot, session: state.session, token: state.token });
    if (state.lastId) {
      q.set("after", state.lastId);
      q.set("chunk", String(state.lastChunk));
    }
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?" + q.toString();
  }

  function connect() {
    clearTimeout(state.retryTimer);
    setStatus(state.everConnected ? "Reconnecting…" : "Connecting…");
    var ws = new WebSocket(wsURL());
    state.ws = ws;
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(f);
    };
    ws.onclose = function () {
      if (state.ws !== ws) {
        return;
      }
      var wasConnected = state.connected;
      state.connected = false;
      ui.send.disabled = false; // typing still works; it waits in the outbox
      if (wasConnected) {
        state.failures = 0;
      }
      state.failures++;
      // A socket that never opens is most likely an expired visitor token:
      // after a few tries start a new session rather than retry forever.
      if (!wasConnected && state.failures >= 3 && state.failures % 3 === 0) {
        forgetSession();
        newSession().then(scheduleRetry, scheduleRetry);
        return;
      }
      scheduleRetry();
    };
  }

  // scheduleRetry backs off exponentially (0.5 s doubling up to 30 s, with
  // jitter so a restarted server is not hit by every page at once).
  function scheduleRetry() {
    var delay = Math.min(30000, 500 * Math.pow(2, Math.max(0, state.failures - 1)));
    delay = delay / 2 + Math.random() * delay / 2;
    setStatus("Offline, retrying in " + Math.ceil(delay / 1000) + " s");
    state.retryTimer = setTimeout(function () {
      if (!state.session) {
        newSession().then(connect, scheduleRetry);
      } else {
        connect();
      }
    }, delay);
  }

  function sendFrame(f) {
    if (state.connected && state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify(f));
    } else {
      state.outbox.push(f);
    }
  }

  function clientID() {
    if (window.crypto && crypto.randomUUID) {
      return crypto.randomUUID();
    }
    return String(Date.now()) + Math.random().toString(16).slice(2);
  }

  function say(text) {
    text = String(text).trim();
    if (!text) {
      return;
    }
    addBubble("user", text);
    clearSuggestions();
    sendFrame({ type: "message", content: text, message_type: 1, active_switchers: state.active.slice(), client_id: clientID() });
  }

  // ---- frames ----

  function onFrame(f) {
    switch (f.type) {
      case "connected":
        state.connected = true;
        state.everConnected = true;
        state.failures = 0;
        if (f.session_id && f.session_id !== state.session) {
          state.session = f.session_id;
        }
        setStatus("Online");
        var queued = state.outbox;
        state.outbox = [];
        queued.forEach(sendFrame);
        break;
      case "typing":
        showTyping(true);
        break;
      case "message":
        onMessage(f);
        break;
      case "error":
        showTyping(false);
        addBubble("error", f.message || f.code || "Something went wrong.");
        break;
      case "handoff":
        onHandoff(f.state);
        break;
    }
  }

  function onMessage(f) {
    if (f.role === "user") {
      return; // our own messages are shown when typed
    }
    var id = f.message_id || "";
    var m = state.messages[id];
    var chunk = typeof f.chunk === "number" ? f.chunk : 0;
    if (m && chunk && chunk <= m.chunk) {
      return; // replayed after a reconnect: already shown
    }
    if (!m) {
      if (!f.content && f.is_complete && (f.suggestions || []).length === 0) {
        state.lastId = id;
        state.lastChunk = chunk;
        return;
      }
      m = { el: null, text: "", chunk: 0 };
      state.messages[id] = m;
    }
    m.text += f.content || "";
    m.chunk = chunk || m.chunk + 1;
    if (!m.el && m.text) {
      m.el = addBubble(f.role === "human" ? "human" : "bot", "");
      m.el.dataset.messageId = id;
    }
    if (m.el) {
      m.el.innerHTML = window.renderMarkdown(m.text);
      m.el.classList.toggle("streaming", !f.is_complete);
      m.el.dataset.complete = f.is_complete ? "true" : "false";
      scrollDown();
    }
    state.lastId = id;
    state.lastChunk = m.chunk;
    if (f.is_complete) {
      showTyping(false);
      showSuggestions(f.suggestions || []);
      showSwitchers(f.switchers || []);
    } else {
      ui.typing.hidden = true; // the bubble itself shows progress
    }
  }

  var handoffText = {
    queued: "Waiting for a human agent to join…",
    human: "You are talking to a human agent."
  };

  function onHandoff(s) {
    var text = handoffText[s];
    ui.handoff.hidden = !text;
    ui.handoff.textContent = text || "";
    document.body.dataset.handoff = s || "bot";
    if (s === "bot") {
      addBubble("error", "The bot is back.");
    }
  }

  // ---- suggestions and switchers ----

  function clearSuggestions() { ui.suggestions.replaceChildren(); }

  function showSuggestions(list) {
    clearSuggestions();
    list.forEach(function (s) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = s.text || s.value;
      b.dataset.kind = s.kind || "message";
      b.addEventListener("click", function () { pickSuggestion(s); });
      ui.suggestions.appendChild(b);
    });
  }

  // pickSuggestion acts per kind: tool runs the tool directly (message_type
  // 6, content = the tool); text and message send the value as the user's
  // message; context sends its label as the user's choice, which the
  // script's HEAR or the model receives (the protocol has no frame of its
  // own for it).
  function pickSuggestion(s) {
    var kind = s.kind || "message";
    if (kind === "tool") {
      addBubble("user", s.text || s.value);
      clearSuggestions();
      sendFrame({ type: "message", content: s.value, message_type: 6, client_id: clientID() });
      return;
    }
    if (kind === "context") {
      say(s.text || s.value);
      return;
    }
    say(s.value || s.text);
  }

  function showSwitchers(list) {
    ui.switchers.replaceChildren();
    ui.switchers.hidden = list.length === 0;
    state.active = list.filter(function (s) { return s.active; }).map(function (s) { return s.id; });
    list.forEach(function (s) {
      var label = document.createElement("label");
      label.className = "switcher";
      var box = document.createElement("input");
      box.type = "checkbox";
      box.checked = !!s.active;
      box.dataset.id = s.id;
      box.addEventListener("change", function () { toggleSwitcher(s.id, box.checked); });
      var span = document.createElement("span");
      span.textContent = s.label || s.id;
      label.append(box, span);
      ui.switchers.appendChild(label);
    });
  }

  // toggleSwitcher re-answers the last message with the new set (type 8).
  function toggleSwitcher(id, on) {
    state.active = state.active.filter(function (x) { return x !== id; });
    if (on) {
      state.active.push(id);
    }
    sendFrame({ type: "message", content: "", message_type: 8, active_switchers: state.active.slice(), client_id: clientID() });
  }

  // ---- start ----

  function start() {
    state.bot = botFromURL();
    if (!state.bot) {
      ui.composer.hidden = true;
      ui.pick.hidden = false;
      setStatus("");
      ui.pick.addEventListener("submit", function (e) {
        e.preventDefault();
        var b = $("pick-bot").value.trim();
        if (BOT_RE.test(b)) {
          location.href = "/chat/" + b;
        }
      });
      return;
    }
    ui.composer.addEventListener("submit", function (e) {
      e.preventDefault();
      say(ui.input.value);
      ui.input.value = "";
      ui.input.focus();
    });
    var ready = restoreSession()
      ? loadHistory().catch(function () { forgetSession(); ui.log.replaceChildren(); return newSession(); })
      : newSession();
    loadTheme().then(function () { return ready; }).then(connect, function (err) {
      addBubble("error", "Cannot start the chat: " + err.message);
      state.failures++;
      scheduleRetry();
    });
  }

  start();
})();

// A small, safe Markdown renderer for chat messages. Everything is
// HTML-escaped first; only the markup built here (bold, italics, code,
// links to http/https/mailto or this site, lists, paragraphs) is HTML.
(function () {
  "use strict";

  function escapeHTML(s) {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  // safeURL takes an escaped URL and returns it if its scheme is allowed.
  function safeURL(u) {
    var raw = u.replace(/&amp;/g, "&");
    if (/^(https?:|mailto:)/i.test(raw) || /^\/(?!\/)/.test(raw)) {
      return u;
    }
    return null;
  }

  function emphasis(s) {
    s = s.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
    s = s.replace(/__([^_]+)__/g, "<strong>$1</strong>");
    s = s.replace(/(^|[^*\w])\*([^*\s][^*]*?)\*(?!\w)/g, "$1<em>$2</em>");
    return s.replace(/(^|[^_\w])_([^_\s][^_]*?)_(?!\w)/g, "$1<em>$2</em>");
  }

  // inline renders one escaped line. Code spans and links become tokens
  // first, so emphasis never reaches into code or a URL.
  function inline(s) {
    var tokens = [];
    function token(html) {
      tokens.push(html);
      return "\u0000" + (tokens.length - 1) + "\u0000";
    }
    s = s.replace(/\u0000/g, "");
    s = s.replace(/`([^`]+)`/g, function (_, c) { return token("<code>" + c + "</code>"); });
    s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, function (m, text, url) {
      var ok = safeURL(url);
      if (!ok) {
        return m;
      }
      return token('<a href="' + ok + '" target="_blank" rel="noopener noreferrer">' + emphasis(text) + "</a>");
    });
    s = emphasis(s);
    return s.replace(/\u0000(\d+)\u0000/g, function (_, i) { return tokens[+i]; });
  }

  function render(src) {
    var lines = escapeHTML(String(src)).replace(/\r\n?/g, "\n").split("\n");
    var out = [], para = [], list = null, fence = null;
    function flushPara() {
      if (para.length) {
        out.push("<p>" + para.map(inline).join("<br>") + "</p>");
        para = [];
      }
    }
    function flushList() {
      if (list) {
        out.push("<" + list.tag + ">" + list.items.map(function (i) { return "<li>" + inline(i) + "</li>"; }).join("") + "</" + list.tag + ">");
        list = null;
      }
    }
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (fence !== null) {
        if (/^\s*```/.test(line)) {
          out.push("<pre><code>" + fence.join("\n") + "</code></pre>");
          fence = null;
        } else {
          fence.push(line);
        }
        continue;
      }
      if (/^\s*```/.test(line)) {
        flushPara(); flushList();
        fence = [];
        continue;
      }
      var m = /^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/.exec(line);
      if (m) {
        var tag = /\d/.test(m[1]) ? "ol" : "ul";
        flushPara();
        if (list && list.tag !== tag) {
          flushList();
        }
        if (!list) {
          list = { tag: tag, items: [] };
        }
        list.items.push(m[2]);
        continue;
      }
      if (/^\s*$/.test(line)) {
        flushPara(); flushList();
        continue;
      }
      flushList();
      para.push(line);
    }
    if (fence !== null) { // still streaming: show what came
      out.push("<pre><code>" + fence.join("\n") + "</code></pre>");
    }
    flushPara(); flushList();
    return out.join("");
  }

  window.renderMarkdown = render;
  window.escapeHTML = escapeHTML;
})();

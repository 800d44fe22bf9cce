/* Live notifications: a list marked with data-socket-path listens on the person's
   notification websocket and prepends each new notification. Without JavaScript the
   server-rendered list is complete; this only saves a reload. CSP forbids inline
   scripts, so the page passes everything through data attributes and a <template>. */
(function () {
  "use strict";

  var RETRY_MIN_MS = 1000;
  var RETRY_MAX_MS = 30000;
  var MAX_FAILURES = 8; // a refused handshake (no longer a member) closes as 1006, like a network cut

  function isSafeUrl(url) {
    return (url.charAt(0) === "/" && url.charAt(1) !== "/") || url.indexOf("https://") === 0;
  }

  function formatTime(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) {
      return iso;
    }
    try {
      return date.toLocaleString(document.documentElement.lang || undefined, {
        dateStyle: "long",
        timeStyle: "short",
      });
    } catch (e) {
      return date.toLocaleString();
    }
  }

  function setText(root, field, text) {
    var node = root.querySelector('[data-field="' + field + '"]');
    if (node) {
      node.textContent = text;
    }
    return node;
  }

  function buildItem(template, data) {
    var item = template.content.firstElementChild.cloneNode(true);
    var title = item.querySelector('[data-field="title"]');
    if (data.url && isSafeUrl(data.url)) {
      var link = document.createElement("a");
      link.href = data.url;
      link.textContent = data.title;
      title.appendChild(link);
    } else {
      title.textContent = data.title;
    }
    var body = setText(item, "body", data.body || "");
    if (!data.body && body) {
      body.remove();
    }
    var time = setText(item, "created_at", formatTime(data.created_at));
    if (time) {
      time.setAttribute("datetime", data.created_at);
    }
    setText(item, "title-again", ": " + data.title);
    var form = item.querySelector("form[data-action]");
    if (form) {
      form.action = form.getAttribute("data-action").replace(/\/0\/read\/$/, "/" + Number(data.id) + "/read/");
    }
    return item;
  }

  function listen(list) {
    var container = list.closest("section, .card") || document;
    var template = container.querySelector("#notification-template") || document.getElementById("notification-template");
    var emptyMessage = container.querySelector("[data-empty-message]");
    var unread = document.querySelector("[data-unread-count]");
    var limit = parseInt(list.getAttribute("data-limit") || "0", 10);
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + window.location.host + list.getAttribute("data-socket-path");
    var delay = RETRY_MIN_MS;
    var failures = 0;
    var seen = {};

    function receive(event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (!data || !data.id || seen[data.id] || !template) {
        return;
      }
      seen[data.id] = true;
      list.insertBefore(buildItem(template, data), list.firstElementChild);
      if (emptyMessage) {
        emptyMessage.hidden = true;
      }
      if (limit > 0) {
        while (list.children.length > limit) {
          list.removeChild(list.lastElementChild);
        }
      }
      if (unread) {
        unread.textContent = String((parseInt(unread.textContent, 10) || 0) + 1);
      }
    }

    function connect() {
      var socket;
      try {
        socket = new WebSocket(url);
      } catch (e) {
        return;
      }
      socket.addEventListener("open", function () {
        delay = RETRY_MIN_MS;
        failures = 0;
        list.setAttribute("data-live", "connected");
      });
      socket.addEventListener("message", receive);
      socket.addEventListener("close", function (event) {
        list.setAttribute("data-live", "closed");
        // 4403: not allowed (signed out, or no longer a member): do not insist.
        failures += 1;
        if (event.code === 4403 || event.code === 1008 || failures > MAX_FAILURES) {
          return;
        }
        window.setTimeout(connect, delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      });
    }

    connect();
  }

  function start() {
    var lists = document.querySelectorAll("[data-socket-path]");
    for (var i = 0; i < lists.length; i++) {
      listen(lists[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

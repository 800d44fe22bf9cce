/* Live council pages (templates/feedback/queue.html and item.html).

   #council-live names the council's websocket (data-socket-path), the page's fragment
   (data-fragment-url, fetched with the HX-Request header, so the view answers with the
   partial template) and the element it replaces (data-fragment-id). On the item page,
   data-item names the case: only its own events refresh it. Every message on the socket
   means "a case of this council moved"; the script fetches the fragment and swaps the
   content of the element in place, so a live region stays the same node and screen
   readers hear what changed: the item's deliberation region is aria-live="polite", and
   the queue's one-line summary goes to #council-announcement. Once a case is no longer
   open, its vote and recusal forms are hidden (posting them would be refused anyway).

   No inline script (strict CSP): everything comes through data attributes. Without
   JavaScript the pages work as they are, with a Refresh link. */
(function () {
  "use strict";

  var RETRY_MS = 10000;
  var MAX_RETRIES = 6;

  function start(root) {
    var url = root.getAttribute("data-fragment-url");
    var targetId = root.getAttribute("data-fragment-id");
    var socketPath = root.getAttribute("data-socket-path");
    var itemId = root.getAttribute("data-item");
    var announcement = document.getElementById("council-announcement");
    var retries = 0;

    function target() {
      return document.getElementById(targetId);
    }

    function settle(current) {
      var status = current.getAttribute("data-status");
      var forms = document.getElementById("item-forms");
      if (forms && status && status !== "open") {
        forms.hidden = true;
      }
    }

    function swap(html) {
      var current = target();
      var holder = document.createElement("template");
      holder.innerHTML = html;
      var fresh = holder.content.getElementById
        ? holder.content.getElementById(targetId)
        : holder.content.querySelector("#" + targetId);
      if (!current || !fresh) {
        return;
      }
      var before = current.getAttribute("data-summary") || "";
      var active = document.activeElement;
      var focusId = active && current.contains(active) ? active.id : "";
      ["data-status", "data-summary"].forEach(function (name) {
        if (fresh.hasAttribute(name)) {
          current.setAttribute(name, fresh.getAttribute(name));
        }
      });
      current.innerHTML = fresh.innerHTML;
      if (focusId && document.getElementById(focusId)) {
        document.getElementById(focusId).focus();
      }
      var summary = current.getAttribute("data-summary") || "";
      if (announcement && summary && summary !== before) {
        announcement.textContent = summary;
      }
      settle(current);
    }

    var refresh = window.CivitasLive.refresher(url, swap);

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket;
      try {
        socket = new WebSocket(scheme + window.location.host + socketPath);
      } catch (e) {
        root.setAttribute("data-live", "off");
        return;
      }
      socket.addEventListener("open", function () {
        retries = 0;
        root.setAttribute("data-live", "connected");
        refresh(); // what moved between the page's render and the socket's opening
      });
      socket.addEventListener("message", function (message) {
        var event;
        try {
          event = JSON.parse(message.data);
        } catch (e) {
          return;
        }
        if (!itemId || String(event.item) === itemId) {
          refresh();
        }
      });
      socket.addEventListener("close", function (event) {
        root.setAttribute("data-live", "closed");
        // refused (4403, 4404) is final; a lost connection is tried again a few times
        if (event.code < 4000 && retries < MAX_RETRIES) {
          retries += 1;
          window.setTimeout(connect, RETRY_MS);
        }
      });
    }

    settle(target() || root);
    if (socketPath && url && targetId && "WebSocket" in window) {
      connect();
    }
  }

  function init() {
    var root = document.getElementById("council-live");
    if (root) {
      start(root);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

/* Live progress of a cluster run (templates/agents/clusters/run_detail.html).

   #run-live names the run's websocket (data-socket-path, absent once the run has finished)
   and the progress fragment (data-progress-url). Every message on the socket means "the
   run moved": the script fetches the fragment the way htmx does (HX-Request header) and
   replaces #run-progress with it, so there is one template for the page, the polling and
   the live view. While the socket is open, htmx's own polling of #run-progress is held
   back to one request every few seconds, a safety net for a socket that connects but never
   hears (in development the worker does not share the web process's in-memory channel
   layer); if the socket cannot connect or closes before the run has finished, the polling
   goes on as before (this script polls itself only when htmx did not load). Without
   JavaScript the section has a Refresh link.

   #run-announcement is a polite live region: it gets the fragment's one-line summary
   (data-summary) when that changes, so a screen reader hears "Running: 2 of 5 stages
   done." rather than the whole section again. CSP forbids inline scripts, so everything
   comes through data attributes. */
(function () {
  "use strict";

  var POLL_MS = 1000; // as hx-trigger="every 1s"
  var SAFETY_MS = 5000;

  function start(root) {
    var url = root.getAttribute("data-progress-url");
    var socketPath = root.getAttribute("data-socket-path");
    var announcement = document.getElementById("run-announcement");
    var live = false; // socket open: htmx polling is held back
    var lastFetch = Date.now(); // the page was just rendered

    function section() {
      return document.getElementById("run-progress");
    }

    function finished() {
      var current = section();
      return !current || current.getAttribute("data-finished") === "true";
    }

    var lastSummary = section() ? section().getAttribute("data-summary") : "";

    function announce() {
      var current = section();
      var summary = current ? current.getAttribute("data-summary") || "" : "";
      if (announcement && summary && summary !== lastSummary) {
        announcement.textContent = summary;
      }
      lastSummary = summary;
    }

    function swap(html) {
      var old = section();
      var holder = document.createElement("template");
      holder.innerHTML = html;
      var fresh = holder.content.querySelector("#run-progress");
      if (!old || !fresh) {
        return;
      }
      lastFetch = Date.now();
      // Keep the keyboard where it was: the same element if it is still there, else the section.
      var active = document.activeElement;
      var hadFocus = active && old.contains(active);
      var focusId = hadFocus ? active.id : "";
      old.parentNode.replaceChild(fresh, old);
      if (window.htmx) {
        window.htmx.process(fresh); // its polling, should the socket go away later
      }
      if (hadFocus) {
        var target = (focusId && document.getElementById(focusId)) || fresh;
        target.focus();
        if (document.activeElement !== target) {
          fresh.focus();
        }
      }
      announce();
    }

    var refresh = window.CivitasLive.refresher(url, swap, {
      stillWanted: function () {
        return !finished();
      },
    });

    function due() {
      return !live || Date.now() - lastFetch >= SAFETY_MS;
    }

    function poll() {
      // only without htmx: the same rhythm as its polling
      if (finished()) {
        return;
      }
      if (due()) {
        refresh();
      }
      window.setTimeout(poll, POLL_MS);
    }

    function fallBack() {
      live = false;
      root.setAttribute("data-live", "polling");
    }

    // htmx's polling request, held back while the socket tells us when to fetch.
    document.addEventListener("htmx:beforeRequest", function (event) {
      if (event.target === section() && !due()) {
        event.preventDefault();
      }
    });
    // htmx polling swapped a new section in: announce it the same way.
    document.addEventListener("htmx:afterSettle", function () {
      lastFetch = Date.now();
      announce();
    });
    if (!window.htmx && !finished()) {
      window.setTimeout(poll, POLL_MS);
    }

    if (!socketPath || !url || !("WebSocket" in window) || finished()) {
      fallBack();
      return;
    }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try {
      socket = new WebSocket(scheme + window.location.host + socketPath);
    } catch (e) {
      fallBack();
      return;
    }
    socket.addEventListener("open", function () {
      live = true;
      root.setAttribute("data-live", "connected");
    });
    socket.addEventListener("message", function () {
      // The first message is the state now (the run may have moved since the page was
      // rendered), then one per change; the fragment says what changed.
      if (!finished()) {
        refresh();
      }
    });
    socket.addEventListener("close", function () {
      // The server closes once the run has finished; any other close (refused, network,
      // server restart) hands over to polling, which stops by itself at the end.
      if (finished()) {
        live = false;
        root.setAttribute("data-live", "closed");
      } else {
        fallBack();
      }
    });
  }

  function init() {
    var root = document.getElementById("run-live");
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

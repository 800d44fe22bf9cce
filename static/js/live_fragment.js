/* Shared by the live pages (cluster_run.js, council.js): fetch a page's fragment the way
   htmx does (HX-Request header, so the view answers with its partial template), one
   request at a time. A call while a request is in flight is remembered and served by one
   more request afterwards, so no change is missed and no burst of messages becomes a burst
   of requests. A failed request leaves the page as it was; the next call tries again. */
(function () {
  "use strict";

  function refresher(url, onHtml, options) {
    var stillWanted =
      (options && options.stillWanted) ||
      function () {
        return true;
      };
    var busy = false;
    var again = false;

    function refresh() {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      again = false;
      window
        .fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.text();
        })
        .then(onHtml)
        .catch(function () {
          // the page stays as it was; the next message or poll tries again
        })
        .then(function () {
          busy = false;
          if (again && stillWanted()) {
            refresh();
          }
        });
    }

    return refresh;
  }

  window.CivitasLive = { refresher: refresher };
})();

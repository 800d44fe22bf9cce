/* The BPMN diagram of a process, with the elements an instance waits in highlighted.
 *
 * No inline script (strict CSP): the page holds
 *   <div class="bpm-diagram" data-bpmn-url="…" data-active='["review"]'></div>
 * and this file fetches the stored BPMN XML from the portal and renders it with bpmn-js
 * (served from static/vendor/bpmn-js by bin/setup). The text list of active steps next to
 * the diagram stays the accessible equivalent. */
(function () {
  "use strict";

  function highlight(viewer, ids) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    ids.forEach(function (id) {
      var element = registry.get(id);
      if (!element) return;
      canvas.addMarker(id, "bpm-active");
      var gfx = registry.getGraphics(element);
      var shape = gfx && gfx.querySelector(".djs-visual > :first-child");
      if (shape) {
        // CSSOM, not a style attribute: allowed by the content security policy
        shape.style.stroke = "#b45309";
        shape.style.strokeWidth = "4px";
        shape.style.fill = "#fef3c7";
      }
    });
  }

  function render(container) {
    var url = container.getAttribute("data-bpmn-url");
    var active = [];
    try {
      active = JSON.parse(container.getAttribute("data-active") || "[]");
    } catch (e) {
      active = [];
    }
    if (!url || typeof window.BpmnJS !== "function") return;
    container.style.height = "420px"; // CSSOM: allowed by the content security policy
    var viewer = new window.BpmnJS({ container: container });
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/xml" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (xml) {
        return viewer.importXML(xml);
      })
      .then(function () {
        viewer.get("canvas").zoom("fit-viewport");
        highlight(viewer, active);
        container.setAttribute("data-rendered", "true");
      })
      .catch(function () {
        var note = container.querySelector(".bpm-diagram-error");
        if (note) note.hidden = false;
      });
  }

  document.querySelectorAll(".bpm-diagram[data-bpmn-url]").forEach(render);
})();

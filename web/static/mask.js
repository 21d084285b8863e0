// The region painter: the customer paints over part of the chosen concept; the painted
// area becomes a mask (white = redraw) that is uploaded, and a round is queued that
// redraws only that part. Loaded as a file (the Content-Security-Policy allows no inline
// script); it re-attaches whenever htmx swaps the gallery.
(function () {
  "use strict";

  function attach(root) {
    var area = root.querySelector ? root.querySelector(".paint-area") : null;
    if (!area || area.dataset.ready) return;
    area.dataset.ready = "1";
    var image = area.querySelector("img");
    var canvas = area.querySelector("canvas");
    var mask = document.createElement("canvas");
    var error = document.getElementById("paint-error");
    var painted = false;
    var drawing = false;

    function size() {
      var w = image.naturalWidth || 640, h = image.naturalHeight || 640;
      canvas.width = w; canvas.height = h; mask.width = w; mask.height = h;
      var m = mask.getContext("2d");
      m.fillStyle = "#000"; m.fillRect(0, 0, w, h);
      canvas.getContext("2d").clearRect(0, 0, w, h);
      painted = false;
    }
    if (image.complete) size(); else image.addEventListener("load", size);

    function point(event) {
      var box = canvas.getBoundingClientRect();
      return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
    }
    function dab(event) {
      var p = point(event), r = canvas.width / 18;
      var c = canvas.getContext("2d"), m = mask.getContext("2d");
      c.fillStyle = "rgba(184, 138, 62, 0.55)"; c.beginPath(); c.arc(p[0], p[1], r, 0, Math.PI * 2); c.fill();
      m.fillStyle = "#fff"; m.beginPath(); m.arc(p[0], p[1], r, 0, Math.PI * 2); m.fill();
      painted = true;
    }
    canvas.addEventListener("pointerdown", function (e) { drawing = true; say(""); canvas.setPointerCapture(e.pointerId); dab(e); });
    canvas.addEventListener("pointermove", function (e) { if (drawing) dab(e); });
    canvas.addEventListener("pointerup", function () { drawing = false; });
    canvas.addEventListener("pointercancel", function () { drawing = false; });

    function say(message) { error.textContent = message; error.hidden = !message; }

    document.getElementById("paint-clear").addEventListener("click", function () { size(); say(""); });
    document.getElementById("paint-send").addEventListener("click", function () {
      if (!painted) { say("Paint over the part you would like changed first."); return; }
      var design = area.dataset.design, parent = area.dataset.image;
      var instruction = document.getElementById("paint-instruction").value;
      say("");
      mask.toBlob(function (blob) {
        var form = new FormData();
        form.append("file", blob, "mask.png");
        fetch("/api/v1/designs/" + design + "/masks", { method: "POST", body: form })
          .then(function (r) { return r.json().then(function (body) { return [r.ok, body]; }); })
          .then(function (result) {
            if (!result[0]) throw result[1];
            return fetch("/api/v1/designs/" + design + "/renders", {
              method: "POST", headers: { "Content-Type": "application/json" },
              body: JSON.stringify({ parent_image_id: parent, mask_id: result[1].id, instruction: instruction || null })
            }).then(function (r) { return r.json().then(function (body) { return [r.ok, body]; }); });
          })
          .then(function (result) {
            if (!result[0]) throw result[1];
            window.htmx.ajax("GET", "/d/" + design + "/gallery", { target: "#gallery", swap: "outerHTML" });
          })
          .catch(function (body) {
            var detail = body && body.detail;
            say(Array.isArray(detail) ? detail[0].msg : (detail || "That did not work; please try again."));
          });
      }, "image/png");
    });
  }

  document.addEventListener("DOMContentLoaded", function () { attach(document); });
  document.addEventListener("htmx:afterSettle", function () { attach(document); });
})();

// What keeps every page usable by keyboard and screen reader, as a file (the
// Content-Security-Policy allows no inline script):
// - focus stays on the element acted on when htmx swaps the part of the page it sits in
//   (elements that can be acted on carry stable ids; htmx alone restores only those
//   still focusable, and only for its main swap);
// - a round's progress is announced when it changes stage, never percent by percent;
// - capped text shows a counter and says so when it nears the cap;
// - example descriptions fill the description box; a shortcut link focuses its field;
// - [data-mirror] copies a live figure (the total) into a second place (the order bar).
(function () {
  "use strict";

  var remembered = new WeakMap();

  function usable(el) {
    return el && el.isConnected && !el.disabled && el.getClientRects().length > 0;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var active = document.activeElement;
    if (active && active !== document.body && active.id && event.detail.xhr) {
      remembered.set(event.detail.xhr, active.id);
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    mirror();
    announceRound();
    var id = event.detail.xhr && remembered.get(event.detail.xhr);
    if (!id) return;
    remembered.delete(event.detail.xhr);
    var active = document.activeElement;
    // Focus moved on by itself (the person tabbed on, or htmx kept it): leave it there.
    if (active && active !== document.body && active.isConnected) return;
    // An outerHTML swap leaves the event's target detached: its successor has its id.
    var target = event.detail.target;
    if (target && !target.isConnected && target.id) target = document.getElementById(target.id);
    if (!target || !target.isConnected) target = document;
    var invalid = target.querySelector("[aria-invalid=true], input.has-error, select.has-error, textarea.has-error");
    var candidates = [invalid, document.getElementById(id), target.querySelector("[data-focus-fallback]"),
                      target.querySelector("[aria-pressed=true]")];
    for (var i = 0; i < candidates.length; i++) {
      if (usable(candidates[i])) { candidates[i].focus({ preventScroll: false }); return; }
    }
    // What was acted on is gone (an order accepted: its form with it): the redrawn part's
    // heading, which says what changed, takes focus rather than the page's top.
    var heading = target !== document && target.querySelector("h1, h2, h3");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  });

  // A round's progress: the status box is redrawn every half second, so the page keeps
  // one live region of its own and speaks only when the stage changes.
  var lastStage = null;
  function announceRound() {
    var announcer = document.getElementById("job-announcer");
    if (!announcer) return;
    var status = document.getElementById("job-status");
    var stage = status ? status.getAttribute("data-status") : "idle";
    if (stage === lastStage) return;
    var message = "";
    if (stage === "queued") message = "Waiting in line for your concepts.";
    else if (stage === "running") message = "Drawing your concepts.";
    else if (lastStage === "queued" || lastStage === "running") {
      var gallery = document.getElementById("gallery");
      var failed = gallery && Array.prototype.some.call(gallery.querySelectorAll("[role=alert]"), function (alert) {
        return !alert.hidden && alert.textContent.trim();
      });
      // A failure is an alert already; a finished round is told here.
      if (!failed) message = gallery && /cancelled/.test(gallery.textContent) && !gallery.querySelector(".round")
        ? "The round was cancelled." : "Your new concepts are ready.";
    }
    lastStage = stage;
    if (message) announcer.textContent = message;
  }

  // Counters for capped text: every textarea with a cap, and inputs capped at 300 or more.
  function attachCounter(field) {
    var max = parseInt(field.getAttribute("maxlength"), 10);
    if (!max || field.dataset.counted || !field.id) return;
    if (field.tagName !== "TEXTAREA" && max < 300) return;
    field.dataset.counted = "1";
    var counter = document.createElement("span");
    counter.className = "char-count";
    counter.id = field.id + "-count";
    var live = document.createElement("span");
    live.className = "sr-only";
    live.setAttribute("aria-live", "polite");
    live.id = field.id + "-limit";
    var row = field.parentElement && field.parentElement.classList.contains("row") ? field.parentElement : field;
    row.insertAdjacentElement("afterend", counter);
    counter.insertAdjacentElement("afterend", live);
    var described = field.getAttribute("aria-describedby");
    field.setAttribute("aria-describedby", (described ? described + " " : "") + counter.id);
    var level = "";
    function update() {
      var used = field.value.length, left = max - used;
      counter.textContent = used + " / " + max + " characters";
      var now = left <= 0 ? "full" : (left <= Math.max(20, Math.round(max * 0.1)) ? "near" : "");
      counter.classList.toggle("near", now === "near");
      counter.classList.toggle("full", now === "full");
      if (now !== level) {
        live.textContent = now === "full" ? "Limit reached: " + max + " characters. Anything more is not added."
          : now === "near" ? left + " characters left." : "";
        level = now;
      }
    }
    field.addEventListener("input", update);
    update();
  }

  function setUp(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll("textarea[maxlength], input[maxlength]").forEach(attachCounter);
    if (root.matches && root.matches("textarea[maxlength], input[maxlength]")) attachCounter(root);
  }

  // Example descriptions: a button fills the box with its words, ready to edit or send.
  document.addEventListener("click", function (event) {
    var example = event.target.closest && event.target.closest("[data-example]");
    if (example) {
      var box = document.getElementById(example.getAttribute("data-fills") || "description");
      if (!box) return;
      box.value = example.getAttribute("data-example");
      box.dispatchEvent(new Event("input", { bubbles: true }));
      box.focus();
      box.setSelectionRange(box.value.length, box.value.length);
      return;
    }
    // A shortcut link ("Order this design", "Skip to the order form") lands on its field.
    var link = event.target.closest && event.target.closest("a[data-focus]");
    if (link) {
      var field = document.getElementById(link.getAttribute("data-focus"));
      if (usable(field)) {
        event.preventDefault();
        field.focus();
      }
    }
  });

  function mirror() {
    document.querySelectorAll("[data-mirror]").forEach(function (copy) {
      var source = document.getElementById(copy.getAttribute("data-mirror"));
      if (source && copy.textContent !== source.textContent) copy.textContent = source.textContent;
    });
  }

  document.addEventListener("htmx:load", function (event) { setUp(event.detail.elt); });
  setUp(document);
  mirror();
  announceRound();
})();

// The in-store kiosk (loaded only on pages a paired kiosk asks for; kiosk/_chrome.html
// holds the markup). It keeps one customer's visit from reaching the next:
// - after kiosk_idle_seconds without a touch or a key, "Still there?" counts down, then
//   the visit ends; a few seconds after an order is confirmed, the same;
// - ending a visit tells the server (a new anonymous visit, its designs forgotten), clears
//   localStorage, sessionStorage and every cookie a script can see (the kiosk's own is
//   HttpOnly), and replaces the page with /kiosk;
// - every move between pages uses location.replace, so the browser's history never holds
//   a customer's design or order page for Back to show.
// A file, not inline script: the Content-Security-Policy allows none.
(function () {
  "use strict";

  var bar = document.getElementById("kiosk-bar");
  if (!bar) return;
  var idleSeconds = Number(bar.dataset.idleSeconds) || 120;
  var countdownSeconds = Number(bar.dataset.countdownSeconds) || 20;
  var afterOrderSeconds = Number(bar.dataset.afterOrderSeconds) || 0;
  var home = bar.dataset.home || "/kiosk";
  var resetUrl = bar.dataset.resetUrl || "/kiosk/reset";
  var overlay = document.getElementById("kiosk-idle");
  // An empty start page waits for a first touch; every other page (the start page listing
  // a customer's designs too) counts from the moment it shows.
  var armed = !bar.dataset.armOnInput;
  var idleTimer = null, tickTimer = null, ending = false, returnFocus = null;
  // The pages a kiosk may show (each carries this chrome); anything else (a print page, a
  // file) would leave the customer on a screen that never starts over.
  var KIOSK_PAGES = /^\/(kiosk(\/.*)?|d\/[^/]+(\/compare)?|o\/[^/]+|find|guided|ring-size)$/;

  function clearCookies() {
    var parts = location.pathname.split("/");
    var paths = ["/"];
    for (var i = 2; i <= parts.length; i++) paths.push(parts.slice(0, i).join("/") || "/");
    document.cookie.split(";").forEach(function (pair) {
      var name = pair.split("=")[0].trim();
      if (!name) return;
      paths.forEach(function (path) {
        document.cookie = name + "=; Max-Age=0; path=" + path;
        document.cookie = name + "=; Max-Age=0; path=" + path + "; domain=" + location.hostname;
      });
    });
  }

  function clearStorage() {
    try { window.localStorage.clear(); } catch (e) { /* storage may be off */ }
    try { window.sessionStorage.clear(); } catch (e) { /* storage may be off */ }
  }

  function startOver() {
    if (ending) return;
    ending = true;
    clearTimeout(idleTimer);
    clearInterval(tickTimer);
    clearStorage();
    clearCookies();
    var gone = false;
    function leave() {
      if (gone) return;
      gone = true;
      clearStorage();
      clearCookies();
      location.replace(home);
    }
    fetch(resetUrl, { method: "POST", credentials: "same-origin", cache: "no-store" }).then(leave, leave);
    setTimeout(leave, 4000);      // never linger on a customer's page, answer or not
  }

  function countdown(seconds, onZero) {
    var left = seconds;
    var shown = document.querySelectorAll("[data-kiosk-count]");
    function show() { shown.forEach(function (el) { el.textContent = String(left); }); }
    show();
    clearInterval(tickTimer);
    tickTimer = setInterval(function () {
      left -= 1;
      if (left <= 0) {
        clearInterval(tickTimer);
        onZero();
        return;
      }
      show();
    }, 1000);
  }

  function askStillThere() {
    if (ending || !overlay) return startOver();
    returnFocus = document.activeElement;
    overlay.hidden = false;
    document.getElementById("kiosk-keep-going").focus();
    countdown(countdownSeconds, startOver);
  }

  function keepGoing() {
    clearInterval(tickTimer);
    overlay.hidden = true;
    if (returnFocus && returnFocus.focus) returnFocus.focus();
    restartIdle();
  }

  function restartIdle() {
    clearTimeout(idleTimer);
    if (armed && !ending && !afterOrderSeconds) idleTimer = setTimeout(askStillThere, idleSeconds * 1000);
  }

  function activity() {
    if (ending || (overlay && !overlay.hidden)) return;   // the dialog's own buttons answer it
    armed = true;
    restartIdle();
  }

  ["pointerdown", "touchstart", "keydown", "input", "wheel"].forEach(function (type) {
    document.addEventListener(type, activity, { capture: true, passive: true });
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target : event.target.parentElement;
    if (!target) return;
    if (target.closest("[data-kiosk-reset]")) { event.preventDefault(); startOver(); return; }
    if (target.closest("#kiosk-keep-going")) { event.preventDefault(); keepGoing(); return; }
    var fill = target.closest("[data-kiosk-fill]");
    if (fill) {
      var box = document.getElementById("kiosk-description");
      if (box) box.value = fill.dataset.kioskFill;
      return;
    }
    var link = target.closest("a[href]");
    if (!link || event.defaultPrevented) return;
    var url = new URL(link.href, location.href);
    if (url.origin === location.origin && url.pathname === location.pathname && url.hash) return;   // in-page
    event.preventDefault();
    if (url.origin !== location.origin || link.hasAttribute("download")) return;   // never leave the store
    if (url.pathname === "/") return location.replace(home);
    if (KIOSK_PAGES.test(url.pathname)) location.replace(url.href);
  });

  // htmx answers that move on (a design started, an order placed) say HX-Redirect: go
  // there without a history entry.
  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var xhr = event.detail && event.detail.xhr;
    var target = xhr && xhr.getResponseHeader("HX-Redirect");
    if (target) {
      event.preventDefault();
      location.replace(target);
    }
  });

  // A plain form (no hx-post): sent with fetch, and the answer replaces this page
  // (a redirect) or its main content (a page with a message), never pushing history.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || form.hasAttribute("hx-post") || form.hasAttribute("hx-get")) return;
    event.preventDefault();
    var data = event.submitter ? new FormData(form, event.submitter) : new FormData(form);
    var method = (form.getAttribute("method") || "get").toLowerCase();
    if (method === "get") {
      location.replace(form.action.split("?")[0] + "?" + new URLSearchParams(data).toString());
      return;
    }
    fetch(form.action, { method: "POST", body: data, credentials: "same-origin" }).then(function (response) {
      if (response.redirected) return location.replace(response.url);
      return response.text().then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var main = document.querySelector("main"), fresh = page.querySelector("main");
        if (!main || !fresh) return location.replace(location.href);
        main.innerHTML = fresh.innerHTML;
        document.title = page.title;
        if (window.htmx) window.htmx.process(main);
        noAutofill(main);
      });
    }, function () { location.replace(location.href); });
  });

  // Browsers remember what was typed into a form and offer it to the next person: not here.
  function noAutofill(root) {
    root.querySelectorAll("form, input, textarea").forEach(function (el) { el.setAttribute("autocomplete", "off"); });
  }
  noAutofill(document);
  document.addEventListener("htmx:load", function (event) { noAutofill(event.detail.elt); });

  // A page shown again from the back-forward cache would show the last customer: reload it.
  window.addEventListener("pageshow", function (event) { if (event.persisted) location.replace(home); });

  // The start page is a new customer's: htmx notes the page's path in sessionStorage as it
  // loads (its history bookkeeping); the next customer starts with empty storage.
  if (bar.dataset.armOnInput) clearStorage();

  if (afterOrderSeconds) {
    var done = document.getElementById("kiosk-done-button");
    if (done) done.focus();
    countdown(afterOrderSeconds, startOver);
  } else {
    restartIdle();
  }
})();

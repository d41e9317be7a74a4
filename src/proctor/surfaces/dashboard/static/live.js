// proctor dashboard: live updates over Server-Sent Events, and the copy button. Hand-written, no
// dependencies. Pages work without it; it only keeps the `#live` region current.
(function () {
  "use strict";

  function setupCopy() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.dataset.copy);
      if (!source || !navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(source.textContent).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        }, function () { button.textContent = "Select and copy"; });
      });
    });
  }

  function setupLive() {
    var main = document.querySelector("main[data-live]");
    var region = document.getElementById("live");
    var status = document.getElementById("live-status");
    if (!main || !region || !window.EventSource) return;
    var topics = main.dataset.live.split(/\s+/);
    var busy = false, again = false;

    function say(text) { if (status) status.textContent = text; }

    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      fetch(window.location.href, { headers: { "X-Dashboard-Fragment": "1" }, cache: "no-store" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html !== null) {
            region.innerHTML = html;
            say("Live · updated " + new Date().toLocaleTimeString());
          }
        })
        .catch(function () { say("Live · update failed, retrying on the next change"); })
        .then(function () {
          busy = false;
          if (again) { again = false; refresh(); }
        });
    }

    // One stream per visible tab: a hidden tab closes its stream (browsers allow only ~6 connections
    // per host over HTTP/1.1, and nobody is watching it) and catches up when it is shown again.
    var source = null, opened = false;

    function connect() {
      source = new EventSource(main.dataset.events);
      source.onopen = function () {
        say("Live");
        if (opened) refresh(); // reconnected: catch up on anything missed meanwhile
        opened = true;
      };
      source.onerror = function () { say("Live updates reconnecting…"); };
      source.onmessage = function (message) {
        var event;
        try { event = JSON.parse(message.data); } catch (e) { return; }
        var wanted = event.kind === "resync" || (event.topics || []).some(function (t) {
          return topics.indexOf(t) !== -1;
        });
        if (wanted) refresh();
      };
    }

    function disconnect() {
      if (source) { source.close(); source = null; }
    }

    document.addEventListener("visibilitychange", function () {
      if (document.hidden) { disconnect(); say("Live updates paused while this tab is hidden"); }
      else if (!source) { connect(); }
    });
    window.addEventListener("pagehide", disconnect);
    window.addEventListener("pageshow", function (event) { // back/forward cache: the page comes back
      if (event.persisted && !source && !document.hidden) connect();
    });
    connect();
  }

  setupCopy();
  setupLive();
})();

// curate labeling app: keyboard-only labeling and review, preloading, no double submits.
(function () {
  "use strict";

  function typing(el) {
    return el && (el.tagName === "INPUT" && el.type !== "checkbox") || (el && el.tagName === "TEXTAREA");
  }

  function columns(boxes) {
    if (boxes.length < 2) { return 1; }
    var top = boxes[0].closest(".cell").offsetTop;
    for (var i = 1; i < boxes.length; i++) {
      if (boxes[i].closest(".cell").offsetTop !== top) { return i; }
    }
    return boxes.length;
  }

  function onceOnly(form) {
    var sent = false;
    form.addEventListener("submit", function (ev) {
      if (sent) { ev.preventDefault(); return; }
      sent = true;
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-busy", "true"); });
    });
  }

  function setupHit(grid) {
    var form = document.getElementById("hit-form");
    var boxes = Array.prototype.slice.call(grid.querySelectorAll("input[type=checkbox]"));
    var counter = document.getElementById("selected-count");
    var data = JSON.parse(document.getElementById("hit-data").textContent || "{}");
    var history = [];
    function count() { counter.textContent = boxes.filter(function (b) { return b.checked; }).length; }
    boxes.forEach(function (box, i) {
      box.addEventListener("change", function () { history.push(i); count(); });
    });
    count();
    if (data.preview) { return; }
    onceOnly(form);
    if (boxes.length && document.activeElement === document.body) { boxes[0].focus(); }
    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) { return; }
      var i = boxes.indexOf(document.activeElement);
      var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(boxes), ArrowUp: -columns(boxes) }[ev.key];
      if (step !== undefined) {
        ev.preventDefault();
        var next = i < 0 ? 0 : Math.min(boxes.length - 1, Math.max(0, i + step));
        boxes[next].focus();
      } else if (ev.key === "x" && i >= 0) {
        ev.preventDefault();
        boxes[i].click();
      } else if (ev.key === "u") {
        ev.preventDefault();
        var last = history.pop();
        if (last !== undefined) { boxes[last].checked = !boxes[last].checked; boxes[last].focus(); count(); }
      } else if (ev.key === "Enter") {
        ev.preventDefault();
        form.requestSubmit(document.getElementById("submit"));
      }
    });
    window.addEventListener("load", function () {
      (data.preload || []).forEach(function (src) { var img = new Image(); img.src = src; });
    });
  }

  function setupReview(section) {
    var form = document.getElementById("decide-form");
    var search = document.getElementById("new-class");
    onceOnly(form);
    search.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") {
        ev.preventDefault();
        if (search.value.trim()) { form.requestSubmit(document.getElementById("relabel")); }
      } else if (ev.key === "Escape") {
        search.blur();
      }
    });
    var keys = { a: "accept", r: "reject", m: "multi" };
    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) { return; }
      if (keys[ev.key]) {
        ev.preventDefault();
        form.requestSubmit(document.getElementById(keys[ev.key]));
      } else if (ev.key === "l" || ev.key === "/") {
        ev.preventDefault();
        search.focus();
      }
    });
  }

  function setupUndo(undoForm) {
    onceOnly(undoForm);
    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) { return; }
      if (ev.key === "u") { ev.preventDefault(); undoForm.requestSubmit(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var grid = document.getElementById("grid");
    if (grid) { setupHit(grid); }
    var review = document.getElementById("review");
    if (review) { setupReview(review); }
    var undo = document.getElementById("undo-form");
    if (undo) { setupUndo(undo); }
  });
}());

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
    var position = document.getElementById("position");
    var data = JSON.parse(document.getElementById("hit-data").textContent || "{}");
    var confirmBox = document.getElementById("confirm");
    var zoom = document.getElementById("zoom");
    var history = [];
    function ticked() { return boxes.filter(function (b) { return b.checked; }).length; }
    function count() { counter.textContent = ticked(); }
    boxes.forEach(function (box, i) {
      box.addEventListener("change", function () { history.push(i); count(); });
      box.addEventListener("focus", function () { if (position) { position.textContent = i + 1; } });
    });
    count();
    function enlarge(i) {
      if (!zoom || i < 0) { return; }
      var img = boxes[i].closest(".cell").querySelector("img");
      document.getElementById("zoom-img").src = img.src;
      zoom.showModal();
    }
    if (zoom) {
      zoom.addEventListener("close", function () { var i = Number(zoom.dataset.from || 0); boxes[i] && boxes[i].focus(); });
      zoom.addEventListener("click", function () { zoom.close(); });
    }
    grid.querySelectorAll(".cell img").forEach(function (img, i) {
      img.addEventListener("dblclick", function (ev) { ev.preventDefault(); zoom.dataset.from = i; enlarge(i); });
    });
    if (data.preview) { return; }
    var confirmed = false;
    function ask() {
      var n = ticked();
      document.getElementById("confirm-text").textContent = n === 0
        ? "You ticked no image. Submit anyway, saying none of the " + boxes.length + " images shows " + data.class_name + "?"
        : "Submit " + n + " of " + boxes.length + " images as showing " + data.class_name + "?";
      confirmBox.showModal();
      document.getElementById("confirm-yes").focus();
    }
    form.addEventListener("submit", function (ev) {
      if (!confirmed && ticked() === 0) { ev.preventDefault(); ev.stopImmediatePropagation(); ask(); }
    }, true);
    onceOnly(form);
    document.getElementById("confirm-yes").addEventListener("click", function () {
      confirmed = true; confirmBox.close(); form.requestSubmit(document.getElementById("submit"));
    });
    document.getElementById("confirm-no").addEventListener("click", function () { confirmBox.close(); });
    confirmBox.addEventListener("close", function () { if (!confirmed && boxes.length) { boxes[0].focus(); } });
    if (boxes.length && document.activeElement === document.body) { boxes[0].focus(); }
    var left = document.getElementById("lease-left");
    if (left) {
      var until = Date.now() + Number(left.dataset.seconds) * 1000;
      var tick = function () {
        var s = Math.max(0, Math.round((until - Date.now()) / 1000));
        left.textContent = Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
        if (s < 120) { left.classList.add("low"); }
        if (s === 0) { left.textContent = "0:00 (time is up: this HIT went back to the pool)"; return; }
        window.setTimeout(tick, 1000);
      };
      tick();
    }
    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) { return; }
      if ((confirmBox && confirmBox.open) || (zoom && zoom.open)) { return; }  // dialogs handle their keys
      var active = document.activeElement;
      var i = boxes.indexOf(active);
      var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(boxes), ArrowUp: -columns(boxes) }[ev.key];
      if (step !== undefined) {
        ev.preventDefault();
        var next = i < 0 ? 0 : Math.min(boxes.length - 1, Math.max(0, i + step));
        boxes[next].focus();
      } else if (ev.key === "x" && i >= 0) {
        ev.preventDefault();
        boxes[i].click();
      } else if (ev.key === "e" && i >= 0) {
        ev.preventDefault();
        zoom.dataset.from = i;
        enlarge(i);
      } else if (ev.key === "u") {
        ev.preventDefault();
        var last = history.pop();
        if (last !== undefined) { boxes[last].checked = !boxes[last].checked; boxes[last].focus(); count(); }
      } else if (ev.key === "Enter") {
        // Enter on another button or link (e.g. "Return this HIT") does that button's job, never a submit
        if (active && (active.tagName === "BUTTON" || active.tagName === "A") && active.id !== "submit") { return; }
        ev.preventDefault();
        ask();
      }
    });
    window.addEventListener("load", function () {
      (data.preload || []).forEach(function (src) { var img = new Image(); img.src = src; });
    });
  }

  function score(text, label) {
    // 0 is best: a prefix, then a substring, then letters in order (a fuzzy subsequence); -1 no match
    if (label.indexOf(text) === 0) { return 0; }
    if (label.indexOf(text) > 0) { return 1; }
    var k = 0;
    for (var i = 0; i < label.length && k < text.length; i++) { if (label[i] === text[k]) { k++; } }
    return k === text.length ? 2 : -1;
  }

  function setupReview(section) {
    var form = document.getElementById("decide-form");
    var search = document.getElementById("new-class");
    var list = document.getElementById("class-suggestions");
    var options = Array.prototype.map.call(document.querySelectorAll("#class-list option"), function (o) { return o.value; });
    var filter = document.getElementById("multi-filter");
    var picks = Array.prototype.slice.call(document.querySelectorAll("#multi-classes label"));
    var note = document.getElementById("note");
    onceOnly(form);
    function suggest() {
      var text = search.value.trim().toLowerCase();
      list.textContent = "";
      if (!text) { return; }
      options.map(function (o) { return [score(text, o.toLowerCase()), o]; })
        .filter(function (p) { return p[0] >= 0; })
        .sort(function (a, b) { return a[0] - b[0]; }).slice(0, 8)
        .forEach(function (p) {
          var li = document.createElement("li");
          li.textContent = p[1]; li.setAttribute("role", "option"); li.tabIndex = -1;
          li.addEventListener("keydown", function (ev) {
            if (ev.key === "Enter") { ev.preventDefault(); search.value = li.textContent; form.requestSubmit(document.getElementById("relabel")); }
            else if (ev.key === "ArrowDown" && li.nextSibling) { ev.preventDefault(); li.nextSibling.focus(); }
            else if (ev.key === "ArrowUp") { ev.preventDefault(); (li.previousSibling || search).focus(); }
            else if (ev.key === "Escape") { search.focus(); }
          });
          li.addEventListener("click", function () { search.value = li.textContent; search.focus(); });
          list.appendChild(li);
        });
    }
    search.addEventListener("input", suggest);
    search.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") {
        ev.preventDefault();
        if (search.value.trim()) { form.requestSubmit(document.getElementById("relabel")); }
      } else if (ev.key === "ArrowDown" && list.firstChild) {
        ev.preventDefault();
        list.firstChild.focus();
      } else if (ev.key === "Escape") {
        search.blur();
      }
    });
    filter.addEventListener("input", function () {
      var text = filter.value.trim().toLowerCase();
      picks.forEach(function (l) { l.hidden = text !== "" && score(text, l.dataset.name) < 0; });
    });
    filter.addEventListener("keydown", function (ev) {
      var shown = picks.filter(function (l) { return !l.hidden; });
      if (ev.key === "Enter") {
        ev.preventDefault();
        form.requestSubmit(document.getElementById("multi"));
      } else if (ev.key === " " || ev.key === "ArrowDown") {
        if (ev.key === " " && shown.length === 1) { ev.preventDefault(); shown[0].querySelector("input").click(); filter.select(); }
        else if (ev.key === "ArrowDown" && shown.length) { ev.preventDefault(); shown[0].querySelector("input").focus(); }
      }
    });
    picks.forEach(function (l) {
      l.querySelector("input").addEventListener("keydown", function (ev) {
        if (ev.key === "Enter") { ev.preventDefault(); form.requestSubmit(document.getElementById("multi")); }
        else if (ev.key === "/" || ev.key === "m") { ev.preventDefault(); filter.focus(); filter.select(); }
      });
    });
    note.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { note.blur(); } });
    var keys = { a: "accept", r: "reject" };
    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) { return; }
      if (document.activeElement && document.activeElement.closest && document.activeElement.closest("#multi-box")) { return; }
      if (keys[ev.key]) {
        ev.preventDefault();
        form.requestSubmit(document.getElementById(keys[ev.key]));
      } else if (ev.key === "l" || ev.key === "/") {
        ev.preventDefault();
        search.focus();
      } else if (ev.key === "m") {
        ev.preventDefault();
        filter.focus();
      } else if (ev.key === "n") {
        ev.preventDefault();
        note.focus();
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

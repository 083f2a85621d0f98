// The run page: view modes, overlay slider, zoom and the keyboard (dpxdt's keys, kept).
(function () {
  "use strict";
  var views = document.querySelectorAll("#views .view");
  var tabs = document.querySelectorAll("#modes button[data-mode]");
  var flipOrder = ["before", "diff", "after"];
  var current = "side";

  function show(mode) {
    current = mode;
    views.forEach(function (view) { view.classList.toggle("on", view.dataset.view === mode); });
    tabs.forEach(function (tab) { tab.classList.toggle("on", tab.dataset.mode === mode); });
  }
  tabs.forEach(function (tab) {
    tab.addEventListener("click", function () { show(tab.dataset.mode); });
  });

  var slider = document.getElementById("slider");
  if (slider) {
    var layer = document.querySelector(".overlay .top-layer");
    slider.addEventListener("input", function () {
      layer.style.clipPath = "inset(0 " + (100 - slider.value) + "% 0 0)";
    });
  }

  var zoom = document.getElementById("zoom");
  function toggleZoom() {
    document.body.classList.toggle("zoomed");
    zoom.classList.toggle("on", document.body.classList.contains("zoomed"));
  }
  zoom.addEventListener("click", toggleZoom);

  function go(id) {
    var link = document.getElementById(id);
    if (link) { window.location.href = link.href; }
  }
  function submit(id) {
    var form = document.getElementById(id);
    if (form) { form.requestSubmit(form.querySelector("button")); }
  }
  var help = document.getElementById("help");

  // The causes: the page opens at the first one (the diff alone, the cause outlined and in
  // view), and c walks them in the order the list gives.
  var causeCount = document.querySelectorAll("#causes li[data-cause]").length;
  var cause = 0;
  // Where causes are outlined: the aligned diff when content moved (what only moved is not
  // red there), else the diff.
  var causeView = document.getElementById("aligned-marked") ? "aligned" : "diff";
  function showCause(number) {
    cause = number;
    if (current !== "diff" && current !== "side" && current !== causeView) { show(causeView); }
    var view = document.querySelector('#views .view.on');
    document.querySelectorAll(".cause-box").forEach(function (box) {
      box.classList.toggle("current", Number(box.dataset.cause) === number);
    });
    document.querySelectorAll("#causes li").forEach(function (item) {
      item.classList.toggle("on", Number(item.dataset.cause) === number);
    });
    var box = view && view.querySelector('.cause-box[data-cause="' + number + '"]');
    if (box) {
      // A box taller than the window is shown from its top, where its label is.
      var tall = box.getBoundingClientRect().height > window.innerHeight * 0.6;
      box.scrollIntoView({block: tall ? "start" : "center", inline: "nearest"});
      if (tall) { window.scrollBy(0, -40); }
    }
  }
  function nextCause() {
    if (causeCount) { showCause(cause % causeCount + 1); }
  }
  document.querySelectorAll(".cause-link").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      showCause(Number(link.dataset.cause));
    });
  });
  // Opened at the first change: the first cause, else the first area that changed.
  function openAtFirstChange() {
    if (causeCount) { showCause(1); return; }
    var focus = document.querySelector("#views .view.on .focus-box");
    if (focus) { focus.scrollIntoView({block: "center", inline: "nearest"}); }
  }
  if (causeCount) { show(causeView); }
  var image = document.querySelector("#views .view.on .marked img");
  if (image && !image.complete) {
    image.addEventListener("load", openAtFirstChange, {once: true});
  } else if (image) {
    openAtFirstChange();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    if (target && (target.tagName === "INPUT" && target.type !== "range" ||
                   target.tagName === "TEXTAREA")) { return; }
    var actions = {
      "j": function () { go("next"); },
      "k": function () { go("prev"); },
      "u": function () { go("up"); },
      "1": function () { show("before"); },
      "2": function () { show("diff"); },
      "3": function () { show("after"); },
      "4": function () { if (document.querySelector('[data-view="aligned"]')) { show("aligned"); } },
      "5": function () { if (document.querySelector('[data-view="noise"]')) { show("noise"); } },
      "s": function () { show("side"); },
      "o": function () { show("overlay"); },
      "f": function () {
        var at = flipOrder.indexOf(current);
        show(flipOrder[(at + 1) % flipOrder.length]);
      },
      "z": toggleZoom,
      "c": nextCause,
      "y": function () { submit("approve-form"); },
      "n": function () { submit("reject-form"); },
      "?": function () { help.classList.toggle("on"); },
      "Escape": function () { help.classList.remove("on"); }
    };
    var action = actions[event.key];
    if (action) { event.preventDefault(); action(); }
  });
  help.addEventListener("click", function () { help.classList.remove("on"); });
})();

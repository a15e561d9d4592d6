// Loa console: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Ask before destructive actions (the server decides anyway).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  // A freshly shown API token is selected, ready to copy.
  document.querySelectorAll("input[data-select]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });

  // "Sao chép": a paste-ready text (the staff loop's unit messages) to the clipboard in one tap.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source) { return; }
    button.addEventListener("click", function () {
      var done = function () { button.textContent = button.dataset.copied || button.textContent; };
      source.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(source.value).then(done, function () { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
    });
  });

  var form = document.getElementById("compose-form");
  if (!form) { return; }
  var pane = document.getElementById("preview");
  var timer = null;
  var inflight = null;

  // Changing the template or cover layout reloads the form with that one's fields, keeping what was typed.
  form.querySelectorAll("select[data-switch]").forEach(function (select) {
    select.addEventListener("change", function () {
      var button = document.createElement("input");
      button.type = "hidden";
      button.name = "action";
      button.value = "switch";
      form.appendChild(button);
      form.submit();
    });
  });

  // "Publish now" makes the date and time irrelevant.
  var now = document.getElementById("now");
  function syncNow() {
    ["date", "time"].forEach(function (id) {
      var input = document.getElementById(id);
      if (input) { input.disabled = now.checked; }
    });
  }
  if (now) { now.addEventListener("change", syncNow); syncNow(); }

  // The main button says what will happen: approval on some channel, or straight to the schedule.
  var queueButton = document.getElementById("queue-button");
  function syncLabel() {
    if (!queueButton) { return; }
    var approval = Array.prototype.some.call(form.querySelectorAll("input[name=channels]"), function (box) {
      return box.checked && box.dataset.approval === "1";
    });
    queueButton.textContent = approval ? queueButton.dataset.labelApproval : queueButton.dataset.labelSchedule;
  }
  form.addEventListener("change", syncLabel);

  // Live preview: the server renders exactly what each channel will get.
  function refresh() {
    if (!pane) { return; }
    var data = new FormData(form);
    data.set("action", "preview");
    if (inflight) { inflight.abort(); }
    inflight = new AbortController();
    fetch(pane.dataset.url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": String(data.get("csrf_token") || "") },
      signal: inflight.signal,
      redirect: "manual"
    }).then(function (response) {
      if (response.type === "opaqueredirect") { return null; }  // the session ended: the next submit says so
      return response.text();
    }).then(function (html) {
      if (html !== null) { pane.innerHTML = html; pane.dataset.rendered = String(Date.now()); }
    }).catch(function () { /* aborted by a newer keystroke, or offline: the Preview button still works */ });
  }
  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 450);
  }
  // Photos and videos: several at once, from the file picker or dropped on the zone; each
  // goes to the media library (checked by content on the server) with its progress shown.
  var zone = document.getElementById("dropzone");
  var picker = document.getElementById("media-files");
  var list = document.getElementById("media-list");
  var mediaError = document.getElementById("media-error");
  var itemTemplate = document.getElementById("media-item-template");
  function upload(file) {
    var item = itemTemplate.content.firstElementChild.cloneNode(true);
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    item.appendChild(bar);
    list.appendChild(item);
    var data = new FormData();
    data.append("file", file, file.name);
    var request = new XMLHttpRequest();
    request.open("POST", zone.dataset.url);
    request.setRequestHeader("X-CSRF-Token", String(new FormData(form).get("csrf_token") || ""));
    request.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) { bar.value = Math.round(100 * event.loaded / event.total); }
    });
    request.addEventListener("load", function () {
      var answer = null;
      try { answer = JSON.parse(request.responseText); } catch (e) { answer = null; }
      if (request.status === 201 && answer && answer.media && answer.media.length) {
        var added = answer.media[0];
        item.dataset.id = String(added.id);
        item.querySelector("input").value = String(added.id);
        var image = item.querySelector("img");
        if (added.thumbnail) { image.src = "/media/" + added.thumbnail; image.alt = added.alt || added.name; }
        else { image.replaceWith(document.createTextNode("▶ " + added.name)); }
        bar.remove();
        later();
      } else {
        item.remove();
        mediaError.hidden = false;
        mediaError.textContent = answer && answer.error ? answer.error.message : request.statusText;
      }
    });
    request.send(data);
  }
  function uploadAll(files) {
    mediaError.hidden = true;
    Array.prototype.forEach.call(files, upload);
  }
  if (zone && picker && list && itemTemplate) {
    picker.addEventListener("change", function () { uploadAll(picker.files); picker.value = ""; });
    zone.addEventListener("dragover", function (event) { event.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("over");
      if (event.dataTransfer && event.dataTransfer.files.length) { uploadAll(event.dataTransfer.files); }
    });
    // A photo or video already in the library is reused: added to the post's list as it is.
    document.querySelectorAll(".media-pick").forEach(function (button) {
      button.addEventListener("click", function () {
        var item = itemTemplate.content.firstElementChild.cloneNode(true);
        item.dataset.id = button.dataset.id;
        item.querySelector("input").value = button.dataset.id;
        var image = item.querySelector("img");
        if (button.dataset.thumb) { image.src = button.dataset.thumb; image.alt = button.dataset.name; }
        else { image.replaceWith(document.createTextNode("▶ " + button.dataset.name)); }
        list.appendChild(item);
        later();
      });
    });
    list.addEventListener("click", function (event) {
      var button = event.target;
      if (button instanceof HTMLElement && button.classList.contains("media-remove")) {
        button.closest("li").remove();
        later();
      }
    });
  }

  form.addEventListener("input", later);
  form.addEventListener("change", function (event) {
    if (!(event.target instanceof HTMLSelectElement && event.target.dataset.switch !== undefined)) { later(); }
  });
})();

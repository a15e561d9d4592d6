// Loa share pages: adds a "copy" button to the link box. Everything works without it.
(function () {
  var buttons = document.querySelectorAll("[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () { button.textContent = "Đã sao chép"; };
      input.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
    });
  });
})();

// One tap on "Sao chép liên kết": the tap is recorded and the tracked link copied at once,
// without the second page (which the form still reaches when scripts or the clipboard fail).
(function () {
  if (!window.fetch || !navigator.clipboard || !window.FormData) return;
  var forms = document.querySelectorAll("form[data-copy-form]");
  Array.prototype.forEach.call(forms, function (form) {
    form.addEventListener("submit", function (event) {
      var button = form.querySelector("button[value=copy]");
      if (!button) return;
      event.preventDefault();
      var body = new FormData(form);
      body.set("platform", "copy");
      fetch(form.action, { method: "POST", body: body, headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (reply) { if (!reply.ok) throw new Error(String(reply.status)); return reply.json(); })
        .then(function (data) { return navigator.clipboard.writeText(data.link); })
        .then(function () { button.textContent = button.getAttribute("data-copied") || button.textContent; })
        .catch(function () { form.submit(); });
    });
  });
})();

// The share page as an app: its service worker (offline shell, push) and "Nhận thông báo".
(function () {
  var app = document.getElementById("loa-app");
  if (!app || !("serviceWorker" in navigator)) return;
  var scope = app.getAttribute("data-scope");
  navigator.serviceWorker.register(app.getAttribute("data-worker"), { scope: scope }).then(function (registration) {
    var button = document.getElementById("push-subscribe");
    if (!button || !("PushManager" in window) || !window.Notification) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var raw = atob(app.getAttribute("data-key").replace(/-/g, "+").replace(/_/g, "/"));
      var key = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i++) key[i] = raw.charCodeAt(i);
      Notification.requestPermission().then(function (answer) {
        if (answer !== "granted") throw new Error(answer);
        return registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      }).then(function (subscription) {
        return fetch(app.getAttribute("data-subscribe"), {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ t: app.getAttribute("data-form"), subscription: subscription.toJSON() })
        });
      }).then(function (reply) {
        if (reply.ok) button.textContent = button.getAttribute("data-done");
      }).catch(function () { button.textContent = button.getAttribute("data-failed"); });
    });
  });
})();

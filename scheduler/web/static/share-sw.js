// Loa share page service worker: an offline shell for the staff member's page, and Web Push.
// Registered from /s/{token} with that path as its scope; tracked links always use the network.
"use strict";
var CACHE = "loa-share-v1";
var SHELL = ["/static/share/share.css", "/static/share/share.js", "/static/share/icon-192.png"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(SHELL.concat([self.registration.scope]));
  }));
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.indexOf("/l/") === 0) return;
  event.respondWith(fetch(request).then(function (response) {
    if (response.ok && (request.mode === "navigate" || SHELL.indexOf(url.pathname) >= 0)) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
    }
    return response;
  }).catch(function () {
    return caches.match(request).then(function (hit) { return hit || caches.match(self.registration.scope); });
  }));
});

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (ignored) { data = {}; }
  event.waitUntil(self.registration.showNotification(data.title || "Loa", {
    body: data.body || "",
    icon: "/static/share/icon-192.png",
    lang: "vi",
    data: { url: data.url || self.registration.scope }
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  event.waitUntil(self.clients.openWindow(event.notification.data.url));
});

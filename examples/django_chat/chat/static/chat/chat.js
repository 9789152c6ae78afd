// The chat page: namespace /room on the same origin, so the browser sends
// Django's sessionid cookie with the handshake and the server knows the user.
(function () {
  "use strict";
  var room = JSON.parse(document.getElementById("room-name").textContent);
  var log = document.getElementById("log");
  var status = document.getElementById("status");

  function line(text, cls) {
    var li = document.createElement("li");
    li.textContent = text;
    if (cls) li.className = cls;
    log.appendChild(li);
  }

  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }

  var socket = io("/room", { auth: { room: room } });
  socket.on("connect", function () { status.textContent = "connected"; });
  socket.on("connect_error", function (err) {
    status.textContent = "cannot connect: " + err.message;
    status.className = "error";
  });
  socket.on("disconnect", function (reason) { status.textContent = "disconnected (" + reason + ")"; });
  socket.on("welcome", function (data) { line("Welcome, " + data.username + ", to #" + data.room, "notice"); });
  socket.on("joined", function (data) { line(data.username + " joined", "notice"); });
  socket.on("left", function (data) { line(data.username + " left", "notice"); });
  socket.on("message", function (data) { line(data.username + ": " + data.text); });
  socket.on("announcement", function (data) { line("Announcement from " + data.from + ": " + data.text, "announcement"); });

  document.getElementById("say").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = document.getElementById("text");
    if (!input.value.trim()) return;
    socket.emit("say", input.value, function (reply) {
      if (!reply.ok) line("not sent: " + reply.error, "error");
    });
    input.value = "";
  });

  document.getElementById("announce").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = document.getElementById("announcement");
    if (!input.value.trim()) return;
    fetch("/announce/", {
      method: "POST",
      headers: { "X-CSRFToken": cookie("csrftoken") },
      body: new URLSearchParams({ room: room, text: input.value }),
    }).then(function (r) { return r.json(); }).then(function (reply) {
      if (!reply.ok) line("announcement failed: " + reply.error, "error");
    });
    input.value = "";
  });
})();

// The demo chat page: connects through the negotiate function at /api with the official client
// and shows every newMessage(user, text) as it arrives. Messages are written as text, never HTML.
"use strict";

const badge = document.getElementById("connection");
const list = document.getElementById("messages");

function state(text, className) {
  badge.textContent = text;
  badge.className = "badge " + (className || "");
}

function show(user, text) {
  const item = document.createElement("li");
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = new Date().toLocaleTimeString();
  const who = document.createElement("span");
  who.className = "user";
  who.textContent = String(user);
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = String(text);
  item.append(time, who, body);
  list.append(item);
  item.scrollIntoView({ block: "end" });
}

const connection = new signalR.HubConnectionBuilder()
  .withUrl("/api") // POST /api/negotiate answers {url, accessToken}: the client follows it to the service
  .withAutomaticReconnect()
  .configureLogging(signalR.LogLevel.Warning)
  .build();

connection.on("newMessage", show);
connection.onreconnecting(() => state("reconnecting…"));
connection.onreconnected(() => state("connected", "connected"));
connection.onclose(() => state("disconnected", "closed"));

connection
  .start()
  .then(() => state("connected", "connected"))
  .catch((error) => state("cannot connect: " + (error.message || error), "closed"));

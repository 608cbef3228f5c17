// The live page: polls status.json every second and redraws. Record contents (failure details)
// are written with textContent only, never as HTML.
"use strict";

const POLL_MS = 1000;
const RATE_WINDOW_S = 5;
const history = []; // recent snapshots, for rates

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(cells, key) {
  const tr = document.createElement("tr");
  if (key !== undefined) tr.dataset.key = key;
  for (const td of cells) tr.appendChild(td);
  return tr;
}

function fill(tableId, rows, emptyText) {
  const body = document.querySelector(`#${tableId} tbody`);
  const columns = document.querySelectorAll(`#${tableId} thead th`).length;
  if (rows.length === 0) {
    const td = cell(emptyText, "muted");
    td.colSpan = columns;
    rows = [row([td])];
  }
  body.replaceChildren(...rows);
}

function count(n) {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

// Per-second rate of a counter over the last few seconds of snapshots.
function rate(pick) {
  const latest = history[history.length - 1];
  const older = history.find((s) => latest.now - s.now <= RATE_WINDOW_S) || latest;
  const seconds = latest.now - older.now;
  if (seconds <= 0) return "–";
  const delta = (pick(latest) ?? 0) - (pick(older) ?? 0);
  return (Math.max(delta, 0) / seconds).toFixed(1);
}

function byName(list, field, name) {
  return (list || []).find((item) => item[field] === name);
}

function render(status) {
  history.push(status);
  while (history.length > 1 && status.now - history[0].now > RATE_WINDOW_S * 2) history.shift();

  const state = document.getElementById("state");
  state.textContent = status.ready ? "ready" : status.live ? "not ready" : "failed";
  state.className = "badge " + (status.ready ? "ready" : status.live ? "" : "down");
  document.getElementById("reasons").textContent = status.reasons.join("; ");
  document.getElementById("updated").textContent =
    "updated " + new Date(status.now * 1000).toLocaleTimeString();
  document.getElementById("version").textContent = "signalr-bridge " + status.version;

  fill("routes", status.routes.map((r) => row([
    cell(r.name, "name"),
    cell(rate((s) => byName(s.routes, "name", r.name)?.delivered), "num rate"),
    cell(count(r.delivered), "num delivered"),
    cell(count(r.benign), "num benign"),
    cell(count(r.failed), "num failed" + (r.failed ? " nonzero" : "")),
    cell(count(r.dead_lettered), "num dead-lettered" + (r.dead_lettered ? " nonzero" : "")),
    cell(count(r.dropped), "num dropped" + (r.dropped ? " nonzero" : "")),
  ], r.name)), "no routes yet");

  fill("topics", status.topics.map((t) => row([
    cell(t.topic, "name"),
    cell(rate((s) => byName(s.topics, "topic", t.topic)?.consumed), "num rate"),
    cell(count(t.consumed), "num consumed"),
    cell(count(t.skipped), "num skipped"),
  ], t.topic)), "no records consumed yet");

  const totals = [
    ...Object.entries(status.dead_lettered).map(([reason, n]) => `${count(n)} dead-lettered (${reason})`),
    ...Object.entries(status.dropped).map(([reason, n]) => `${count(n)} skipped (${reason})`),
  ];
  document.getElementById("failure-totals").textContent = totals.length ? totals.join(" · ") : "none";
  fill("failures", status.recent_failures.map((f) => row([
    cell(new Date(f.at * 1000).toLocaleTimeString()),
    cell(f.route || "–", "route"),
    cell(f.reason, "reason"),
    cell(f.source, "source"),
    cell(f.dead_lettered ? "dead-letter topic" : "skipped", "went"),
    cell(f.detail, "detail"),
  ])), "no failed records");

  fill("endpoints", status.endpoints.map((e) => row([
    cell(e.name, "name"),
    cell(e.up ? "up" : "down", e.up ? "up" : "down"),
  ], e.name)), "no endpoint checked yet");

  fill("lag", status.lag.map((l) => row([
    cell(l.topic, "topic"),
    cell(String(l.partition), "num partition"),
    cell(count(l.records), "num records"),
  ], `${l.topic}[${l.partition}]`)), "no partitions assigned (or no lag report yet)");
}

async function poll() {
  try {
    const response = await fetch("status.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
  } catch (error) {
    const state = document.getElementById("state");
    state.textContent = "bridge unreachable";
    state.className = "badge down";
    document.getElementById("reasons").textContent = String(error.message || error);
  }
}

poll();
setInterval(poll, POLL_MS);

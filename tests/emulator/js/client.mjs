// Drives the official @microsoft/signalr client for the emulator, e2e and demo tests.
// argv[2] is JSON {url, accessToken, targets, protocol?} (protocol "messagepack" uses
// @microsoft/signalr-protocol-msgpack, default JSON); the script prints JSON lines:
// {"event":"connected","connectionId"}, {"event":"message","target","arguments"},
// {"event":"closed","error"}, {"event":"failed","error"}. A line "stop" on stdin stops it.
// Other stdin lines are JSON commands, run one after the other, each answered with its "id":
//   {"id", "invoke": target, "arguments": [...]} -> {"event":"result","id","result"} | {"event":"error","id","error"}
//   {"id", "send": target, "arguments": [...]}   -> {"event":"sent","id"}
//   {"id", "burst": target, "count": N, "interval_ms": ms, "prefix": [...]}
//        send(target, ...prefix, i) for i = 0..N-1, ms apart, without waiting for the server
//        -> {"event":"burst-done","id"}
import { createInterface } from "node:readline";
import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

const { url, accessToken, targets, protocol } = JSON.parse(process.argv[2]);
const emit = (event) => process.stdout.write(JSON.stringify(event) + "\n");

let builder = new signalR.HubConnectionBuilder()
  .withUrl(url, { accessTokenFactory: () => accessToken })
  .configureLogging(signalR.LogLevel.Warning);
if (protocol === "messagepack") {
  builder = builder.withHubProtocol(new MessagePackHubProtocol());
}
const connection = builder.build();

for (const target of targets) {
  // A block body: a handler that returns a value would answer as a client result.
  connection.on(target, (...args) => {
    emit({ event: "message", target, arguments: args });
  });
}
// A client result for :invoke: answer with what was asked.
connection.on("ask", (question) => ({ answer: question }));
connection.onclose((error) => {
  emit({ event: "closed", error: error ? String(error.message ?? error) : null });
  process.exit(0);
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(command) {
  const { id } = command;
  if (command.invoke !== undefined) {
    try {
      const result = await connection.invoke(command.invoke, ...(command.arguments ?? []));
      emit({ event: "result", id, result: result ?? null });
    } catch (error) {
      emit({ event: "error", id, error: String(error.message ?? error) });
    }
  } else if (command.send !== undefined) {
    await connection.send(command.send, ...(command.arguments ?? []));
    emit({ event: "sent", id });
  } else if (command.burst !== undefined) {
    const sends = [];
    for (let i = 0; i < command.count; i++) {
      sends.push(connection.send(command.burst, ...(command.prefix ?? []), i));
      if (command.interval_ms) await sleep(command.interval_ms);
    }
    await Promise.all(sends);
    emit({ event: "burst-done", id });
  }
}

let queue = Promise.resolve();
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "stop") {
    queue = queue.then(() => connection.stop());
  } else if (line.trim()) {
    const command = JSON.parse(line);
    queue = queue.then(() => run(command));
  }
});

try {
  await connection.start();
  emit({ event: "connected", connectionId: connection.connectionId });
} catch (error) {
  emit({ event: "failed", error: String(error.message ?? error) });
  process.exit(1);
}

// Drives the official @microsoft/signalr client for tests/emulator/test_emu_js_client.py.
// argv[2] is JSON {url, accessToken, targets, protocol?} (protocol "messagepack" uses
// @microsoft/signalr-protocol-msgpack, default JSON); the script prints JSON lines:
// {"event":"connected","connectionId"}, {"event":"message","target","arguments"},
// {"event":"closed","error"}, {"event":"failed","error"}. A line "stop" on stdin stops it.
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

createInterface({ input: process.stdin }).on("line", async (line) => {
  if (line.trim() === "stop") {
    await connection.stop();
  }
});

try {
  await connection.start();
  emit({ event: "connected", connectionId: connection.connectionId });
} catch (error) {
  emit({ event: "failed", error: String(error.message ?? error) });
  process.exit(1);
}

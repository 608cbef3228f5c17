// Drives Debian's chromium (never a downloaded browser) with playwright-core for tests/browser.
// Commands arrive as JSON lines on stdin; each gets one JSON line on stdout:
//   {"id", "op": "open", "url"}                      -> {"id", "ok": true, "value": page number}
//   {"id", "op": "waitFor", "page", "expression", "timeoutMs"} -> once the JS expression is truthy
//   {"id", "op": "evaluate", "page", "expression"}   -> {"id", "ok": true, "value"}
//   {"id", "op": "screenshot", "page", "path"}
//   {"id", "op": "errors"}                           -> every page's errors and console errors so far
// A failure answers {"id", "ok": false, "error"}. End of stdin closes the browser.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

// What this machine needs (/work/.library/env: "Known to work"): no sandbox as root, no GPU,
// and no background connections, which the closed network would refuse many at a time.
const ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ARGS,
});
const pages = [];
const errors = [];

async function open(url) {
  // The pages under test forbid eval in their Content-Security-Policy; waitFor evaluates strings.
  const page = await browser.newPage({ bypassCSP: true });
  const number = pages.push(page) - 1;
  page.on("pageerror", (error) => errors.push(`page ${number}: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`page ${number} console: ${message.text()}`);
  });
  await page.goto(url, { waitUntil: "load" });
  return number;
}

const reply = (answer) => process.stdout.write(JSON.stringify(answer) + "\n");

async function run(command) {
  const page = pages[command.page ?? 0];
  switch (command.op) {
    case "open":
      return await open(command.url);
    case "waitFor":
      await page.waitForFunction(command.expression, null, { timeout: command.timeoutMs ?? 30000, polling: 100 });
      return null;
    case "evaluate":
      return await page.evaluate(command.expression);
    case "screenshot":
      await page.screenshot({ path: command.path, fullPage: true });
      return null;
    case "errors":
      return errors;
    default:
      throw new Error(`unknown op ${command.op}`);
  }
}

reply({ id: 0, ok: true, value: browser.version() });
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  try {
    reply({ id: command.id, ok: true, value: (await run(command)) ?? null });
  } catch (error) {
    reply({ id: command.id, ok: false, error: String(error.message ?? error).split("\n")[0] });
  }
}
await browser.close();

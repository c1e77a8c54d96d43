// Test harness: a real `confab serve` on its own data directory and port,
// accounts made with the admin CLI, and Debian's Chromium driven by
// playwright-core (which never downloads a browser).

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SCREENSHOTS = join(root, "e2e", "screenshots");
const BINARY = process.env.CONFAB_BIN ?? join(root, "target", "debug", "confab");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** One server and its data directory; `restart()` keeps both the data and the port. */
export class ConfabServer {
  constructor() {
    this.dataDir = mkdtempSync(join(tmpdir(), "confab-e2e-"));
    this.env = {
      ...process.env,
      CONFAB_DATA_DIR: this.dataDir,
      CONFAB_LOG: "warn,confab::cli=info",
      // The suite sends faster than a person types.
      CONFAB_WS_MESSAGE_RATE: "1000",
      CONFAB_WS_MESSAGE_BURST: "1000",
      // Short-lived access tokens, so the run sees the client refresh them
      // (a third of their life early, here every 4 s).
      CONFAB_ACCESS_TOKEN_LIFETIME: "6",
    };
    this.port = 0;
    this.process = null;
    this.log = "";
  }

  async start() {
    const child = spawn(BINARY, ["serve"], {
      env: { ...this.env, CONFAB_BIND: `127.0.0.1:${this.port}` },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.process = child;
    const address = await new Promise((resolveAddress, reject) => {
      const timer = setTimeout(() => reject(new Error(`confab did not start:\n${this.log}`)), 60_000);
      const read = (chunk) => {
        this.log += chunk;
        const match = /addr=(\d+\.\d+\.\d+\.\d+:\d+)/.exec(this.log);
        if (match) {
          clearTimeout(timer);
          resolveAddress(match[1]);
        }
      };
      child.stdout.on("data", read);
      child.stderr.on("data", read);
      child.on("exit", (code) => reject(new Error(`confab exited with ${code}:\n${this.log}`)));
    });
    this.port = Number(address.split(":")[1]);
    this.url = `http://${address}`;
    this.log = "";
    return this;
  }

  async stop() {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((done) => child.once("exit", done));
    child.kill("SIGTERM");
    await exited;
  }

  async restart() {
    await this.stop();
    await this.start();
  }

  /** Creates an account with the admin CLI, as an operator would. */
  createUser(username, password, { developer = true } = {}) {
    const args = ["user", "create", username, "--password-stdin", ...(developer ? ["--developer"] : [])];
    const result = spawnSync(BINARY, args, { env: this.env, input: `${password}\n`, encoding: "utf8" });
    if (result.status !== 0) throw new Error(`user create ${username} failed: ${result.stderr}`);
  }

  /** A REST call as `username`, for setting the scene faster than the UI could. */
  async api(username, password, method, path, body) {
    const tokens = await fetch(`${this.url}/api/token/`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    }).then((r) => r.json());
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${tokens.access}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path} as ${username}: ${response.status} ${await response.text()}`);
    return response.status === 204 ? null : response.json();
  }

  async cleanup() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export async function launchBrowser() {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The machine has no network beyond localhost: keep Chromium from trying.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A fresh browser context (its own storage) at `viewport`, with page errors collected. */
export async function openPage(browser, baseUrl, viewport) {
  // A phone-sized window is a phone: touch, no hover (so message actions show inline).
  const phone = viewport.width < 600;
  const context = await browser.newContext({ viewport, baseURL: baseUrl, isMobile: phone, hasTouch: phone });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  page.errors = [];
  page.refreshes = 0;

  page.on("request", (request) => {
    if (request.url().endsWith("/api/token/refresh/")) page.refreshes += 1;
  });
  page.on("pageerror", (error) => page.errors.push(error));
  page.on("dialog", (dialog) => {
    page.errors.push(new Error(`unexpected dialog: ${dialog.message()}`));
    dialog.dismiss();
  });
  await page.goto("/");
  return page;
}

export async function login(page, username, password) {
  await page.getByLabel("Username", { exact: true }).fill(username);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

export function screenshot(page, name) {
  return page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/** Polls `check` until it stops throwing (Playwright's `expect` is not in playwright-core). */
export async function eventually(check, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

// Elements as a screen reader user finds them: by role, name and text.
export const messageLog = (page) => page.getByRole("log", { name: "Messages" });
export const messageItem = (page, text) => messageLog(page).locator("li.message").filter({ hasText: text });
export const composer = (page) => page.getByRole("textbox", { name: "Message" });
export const roomEntry = (page, name) =>
  page.getByRole("navigation", { name: "Rooms" }).getByRole("button", { name: new RegExp(`^${name}`) });

/** A message's action button; with a mouse the actions show on hover, so it hovers first. */
export async function messageAction(page, text, name) {
  const item = messageItem(page, text);
  await item.locator("article").hover();
  return item.getByRole("button", { name });
}

/** Types and sends a message: Enter on a desktop, the Send button on a phone (where Enter adds a line). */
export async function send(page, text) {
  await composer(page).fill(text);
  if (page.viewportSize().width < 600) await page.getByRole("button", { name: "Send" }).click();
  else await composer(page).press("Enter");
}

/** Stored messages shown in the open room (not pending ones, day headings or dividers). */
export const messageCount = (page) => messageLog(page).locator("article[data-id]").count();

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * Runs axe-core on the page as it is (injected over the DevTools protocol,
 * which the page's CSP does not govern) and fails on any critical or
 * serious violation, naming the rule and the elements.
 */
export async function assertAccessible(page, what) {
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE_SOURCE);
  const { violations } = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = violations
    .filter((v) => v.impact === "critical" || v.impact === "serious")
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join("; ")})`);
  assert.deepEqual(bad, [], `axe on ${what}`);
}

/** Posts as `username` every `everyMs` until the returned stop() is awaited: live traffic while someone acts. */
export function liveTraffic(server, username, password, roomId, everyMs = 150) {
  let running = true;
  let count = 0;
  const done = (async () => {
    while (running) {
      count += 1;
      await server.api(username, password, "POST", `/api/chat/rooms/${roomId}/messages/`, { content: `traffic ${count}` });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return async () => {
    running = false;
    await done;
    return count;
  };
}

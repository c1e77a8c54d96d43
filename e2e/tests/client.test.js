// The web client under live traffic: alice acts in a desktop window while
// bob (over REST, or in a phone-sized window) keeps the room busy. Each test
// stands for a defect a new user found: confirmations lost to re-renders,
// focus dropped, views that never recovered from an outage, wrong or lost
// state, keyboard and touch use.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  ConfabServer,
  DESKTOP,
  PHONE,
  composer,
  eventually,
  assertAccessible,
  launchBrowser,
  liveTraffic,
  login,
  messageAction,
  messageItem,
  messageLog,
  openPage,
  roomEntry,
  send,
} from "./harness.js";

const PASSWORD = "correct horse battery";

describe("the web client under live traffic", () => {
  let server;
  let browser;
  let alice;
  let bob;
  let busy; // a room of alice and bob
  let quiet; // a second room of theirs
  const api = (user, method, path, body) => server.api(user, PASSWORD, method, path, body);
  const post = (user, room, content) => api(user, "POST", `/api/chat/rooms/${room.id}/messages/`, { content });
  const open = async (page, room) => {
    await page.goto(`/#/rooms/${room.id}`);
    await page.getByRole("heading", { name: room.name, exact: true }).waitFor();
  };

  before(async () => {
    server = await new ConfabServer().start();
    for (const name of ["alice", "bob", "dave"]) server.createUser(name, PASSWORD);
    busy = await api("alice", "POST", "/api/chat/rooms/", { name: "Busy", room_type: "group" });
    quiet = await api("alice", "POST", "/api/chat/rooms/", { name: "Quiet", room_type: "group" });
    for (const room of [busy, quiet]) await api("alice", "POST", `/api/chat/rooms/${room.id}/members/`, { username: "bob" });
    await post("bob", busy, "first words");
    browser = await launchBrowser();
    alice = await openPage(browser, server.url, DESKTOP);
    await login(alice, "alice", PASSWORD);
    await roomEntry(alice, "Busy").waitFor();
  });

  after(async () => {
    for (const page of [alice, bob]) assert.deepEqual(page?.errors ?? [], [], "no script errors in the page");
    await browser?.close();
    await server?.cleanup();
  });

  it("keeps a delete confirmation open through live traffic, then deletes", async () => {
    await open(alice, busy);
    await send(alice, "delete me please");
    await messageItem(alice, "delete me please").locator("article[data-id]").waitFor();
    const stop = liveTraffic(server, "bob", PASSWORD, busy.id);
    await (await messageAction(alice, "delete me please", /^Delete message from alice/)).click();
    const dialog = alice.getByRole("alertdialog", { name: "Delete this message?" });
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /delete me please/);
    // Messages and read receipts arrive while the dialog is open, for longer
    // than the old armed button lasted (4 s).
    await messageItem(alice, "traffic 4").waitFor();
    await alice.waitForTimeout(4500);
    assert.ok(await dialog.isVisible(), "the confirmation is still open");
    // Cancel is focused, so a stray Enter cannot destroy anything.
    assert.equal(await alice.evaluate(() => document.activeElement.textContent.trim()), "Cancel");
    await dialog.getByRole("button", { name: "Delete message" }).click();
    await messageItem(alice, "delete me please").waitFor({ state: "detached" });
    // The button that opened the dialog is gone with its message: focus goes to the composer.
    assert.equal(await alice.evaluate(() => document.activeElement.id), "message-input");
    await stop();
    const page = await api("bob", "GET", `/api/chat/rooms/${busy.id}/messages/?limit=200`);
    assert.ok(!page.results.some((m) => m.content === "delete me please"), "deleted on the server");
  });

  it("keeps focus on a message's button and adds one log item per new message", async () => {
    await open(alice, busy);
    await messageItem(alice, "first words").locator("article").focus();
    await alice.keyboard.press("Tab");
    const focused = () => alice.evaluate(() => document.activeElement?.getAttribute("aria-label"));
    const before = await focused();
    assert.match(before, /^Reply to bob, /);
    await alice.evaluate(() => {
      window.addedToLog = 0;
      const list = document.querySelector("[role=log] ol");
      new MutationObserver((records) => {
        for (const record of records) window.addedToLog += record.addedNodes.length;
      }).observe(list, { childList: true, subtree: true });
    });
    for (let i = 1; i <= 5; i++) await post("bob", busy, `focus check ${i}`);
    await messageItem(alice, "focus check 5").waitFor();
    await alice.waitForTimeout(500); // read receipts and typing frames come too
    assert.equal(await focused(), before, "focus did not move");
    assert.equal(await alice.evaluate(() => window.addedToLog), 5, "exactly the 5 new items were added");
  });

  it("makes the message list one Tab stop, moved through with arrow keys", async () => {
    await open(alice, busy);
    const log = messageLog(alice);
    await log.locator("article[data-id]").last().waitFor();
    // Walk the page with Tab from the room search box and count stops inside the log.
    await alice.getByLabel("Search rooms").focus();
    let stopsInLog = 0;
    for (let i = 0; i < 40; i++) {
      await alice.keyboard.press("Tab");
      const inLog = await alice.evaluate(() => Boolean(document.activeElement.closest("[role=log]")));
      if (inLog) stopsInLog += 1;
      const inComposer = await alice.evaluate(() => document.activeElement.id === "message-input");
      if (inComposer) break;
    }
    // The newest message, then its own actions (Reply, React, Delete...); no other message's.
    const newest = log.locator("article[data-id]").last();
    const actions = await newest.locator("button").count();
    assert.ok(stopsInLog >= 1 && stopsInLog <= 1 + actions, `${stopsInLog} Tab stops in the message list`);
    const total = await log.locator("button").count();
    assert.ok(total > 2 * (1 + actions), "the other messages' buttons were skipped");
    await newest.focus();
    await alice.keyboard.press("ArrowUp");
    const label = await alice.evaluate(() => document.activeElement.getAttribute("aria-label"));
    const previousLabel = await log.locator("article[data-id]").nth(-2).getAttribute("aria-label");
    assert.equal(label, previousLabel);
    await alice.keyboard.press("End");
    assert.equal(await alice.evaluate(() => document.activeElement.dataset.id), await newest.getAttribute("data-id"));
  });

  it("keeps drafts per room, across switches and reloads", async () => {
    await open(alice, busy);
    await composer(alice).fill("half a thought");
    await open(alice, quiet);
    assert.equal(await composer(alice).inputValue(), "");
    await composer(alice).fill("another draft");
    await open(alice, busy);
    assert.equal(await composer(alice).inputValue(), "half a thought");
    await alice.reload();
    await alice.getByRole("heading", { name: "Busy", exact: true }).waitFor();
    assert.equal(await composer(alice).inputValue(), "half a thought");
    await composer(alice).fill("");
  });

  it("suggests only members for @mentions and says when an outsider is mentioned", async () => {
    await open(alice, busy);
    await composer(alice).pressSequentially("hey @");
    await alice.getByRole("option", { name: "@bob" }).waitFor();
    assert.equal(await alice.getByRole("option", { name: "@dave" }).count(), 0, "dave is not in the room");
    await composer(alice).fill("");
    await send(alice, "thoughts, @dave?");
    await alice.getByRole("status").filter({ hasText: "@dave is not a member of this room and will not be notified." }).waitFor();
  });

  it("shows who has seen a message after a reload", async () => {
    await open(alice, quiet);
    await send(alice, "read me later");
    const stored = await eventually(async () => {
      const page = await api("bob", "GET", `/api/chat/rooms/${quiet.id}/messages/`);
      const found = page.results.find((m) => m.content === "read me later");
      assert.ok(found);
      return found;
    });
    await api("bob", "POST", `/api/chat/messages/${stored.id}/read/`);
    await messageItem(alice, "read me later").getByText("Seen by bob").waitFor();
    await alice.reload();
    await messageItem(alice, "read me later").getByText("Seen by 1 person").waitFor();
  });

  it("opens a room at the first unread message, and marks read only what was seen", async () => {
    await alice.goto("/#/");
    await alice.getByText("Pick a room on the left, or create one.").waitFor();
    for (let i = 1; i <= 40; i++) await post("bob", quiet, `backlog ${String(i).padStart(2, "0")}`);
    await alice.getByRole("button", { name: /^Quiet\W+40 unread/ }).waitFor();
    await roomEntry(alice, "Quiet").click();
    const divider = messageLog(alice).locator("li.unread-divider");
    await divider.getByText("New messages").waitFor();
    const dividerIndex = await divider.evaluate((li) => [...li.parentElement.children].indexOf(li));
    const firstUnread = await messageItem(alice, "backlog 01").evaluate((li) => [...li.parentElement.children].indexOf(li));
    assert.equal(firstUnread, dividerIndex + 1, "the divider sits just above the first unread message");
    await alice.waitForTimeout(800);
    // The newest messages are below the fold: still unread.
    const entry = roomEntry(alice, "Quiet");
    assert.match(await entry.innerText(), /\d+\s*unread/);
    // Scroll to the end: everything has been seen.
    await messageItem(alice, "backlog 40").locator("article").scrollIntoViewIfNeeded();
    await alice.mouse.move(10, 10); // the pointer off the list, so nothing is hovered
    await eventually(async () => assert.doesNotMatch(await entry.innerText(), /unread/));
    const jump = alice.getByRole("button", { name: "Jump to first unread" });
    await jump.waitFor();
    await jump.click();
    await eventually(async () => assert.ok(await divider.isVisible()));
    await eventually(async () =>
      assert.match(await alice.evaluate(() => document.activeElement.getAttribute("aria-label") ?? ""), /^bob, /),
    );
  });

  it("reads a mention notification once its message has been seen", async () => {
    await alice.goto("/#/");
    await alice.getByText("Pick a room on the left, or create one.").waitFor();
    await post("bob", busy, "@alice can you look at this?");
    await alice.getByRole("button", { name: /^Notifications, 1 unread/ }).waitFor();
    await roomEntry(alice, "Busy").click();
    await messageItem(alice, "can you look at this?").waitFor();
    await alice.getByRole("button", { name: "Notifications", exact: true }).waitFor();
    const unread = await api("alice", "GET", "/api/chat/notifications/?is_read=false");
    assert.equal(unread.count, 0, "read on the server too");
  });

  it("returns focus when panels close, and asks before removing a member or changing a role", async () => {
    await open(alice, busy);
    const bell = alice.getByRole("button", { name: /^Notifications/ });
    await bell.click();
    await alice.getByRole("region", { name: "Notifications" }).waitFor();
    await alice.keyboard.press("Escape");
    await alice.getByRole("region", { name: "Notifications" }).waitFor({ state: "detached" });
    assert.equal(await alice.evaluate(() => document.activeElement.id), "notifications-button");

    await alice.getByRole("button", { name: "Members" }).click();
    const panel = alice.getByRole("complementary", { name: "Members" });
    await panel.getByRole("button", { name: "Remove bob" }).click();
    const dialog = alice.getByRole("alertdialog", { name: "Remove bob from Busy?" });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });
    assert.equal(await alice.evaluate(() => document.activeElement.getAttribute("aria-label")), "Remove bob");
    await panel.getByLabel("Role of bob").selectOption("moderator");
    const roleDialog = alice.getByRole("alertdialog", { name: "Make bob a moderator?" });
    await roleDialog.getByRole("button", { name: "Cancel" }).click();
    assert.equal(await panel.getByLabel("Role of bob").inputValue(), "member", "nothing changed without confirming");
    const members = await api("alice", "GET", `/api/chat/rooms/${busy.id}/members/`);
    assert.equal(members.length, 2);
    assert.equal(members.find((m) => m.user.username === "bob").role, "member");
    await panel.getByRole("button", { name: "Close members" }).click();
    assert.equal(await alice.evaluate(() => document.activeElement.id), "members-button");
  });

  it("renders links, code, day headings and runs of one sender", async () => {
    await open(alice, quiet);
    await post("bob", quiet, "see https://example.com/docs?q=1, then run `cargo test`");
    await post("bob", quiet, "```\nfn main() {\n    println!(\"<b>hi</b>\");\n}\n```");
    const linkItem = messageItem(alice, "see https://example.com");
    const link = linkItem.getByRole("link", { name: "https://example.com/docs?q=1" });
    await link.waitFor();
    assert.equal(await link.getAttribute("href"), "https://example.com/docs?q=1");
    assert.match(await link.getAttribute("rel"), /noopener/);
    assert.match(await link.getAttribute("rel"), /noreferrer/);
    assert.equal(await link.getAttribute("target"), "_blank");
    assert.equal(await linkItem.locator("code").innerText(), "cargo test");
    const block = messageItem(alice, "fn main()").locator("pre code");
    assert.equal(await block.innerText(), 'fn main() {\n    println!("<b>hi</b>");\n}');
    assert.equal(await messageLog(alice).locator("b").count(), 0);
    await messageLog(alice).getByRole("heading", { name: "Today" }).waitFor();
    // bob's second message in a row is grouped under the first: no repeated name shown.
    assert.match(await messageItem(alice, "fn main()").getAttribute("class"), /continued/);
    // javascript: is never a link
    await post("bob", quiet, "javascript:alert(1)");
    await messageItem(alice, "javascript:alert(1)").waitFor();
    assert.equal(await messageItem(alice, "javascript:alert(1)").getByRole("link").count(), 0);
  });

  it("lets an admin rename a room and edit its description", async () => {
    await open(alice, quiet);
    await alice.getByRole("button", { name: "Room settings" }).click();
    const dialog = alice.getByRole("dialog", { name: "Room settings" });
    await dialog.getByLabel("Name").fill("Quiet corner");
    await dialog.getByLabel("Description").fill("Slow thoughts");
    await dialog.getByRole("button", { name: "Save" }).click();
    await alice.getByRole("heading", { name: "Quiet corner" }).waitFor();
    await alice.getByText(/Slow thoughts/).first().waitFor();
    const room = await api("bob", "GET", `/api/chat/rooms/${quiet.id}/`);
    assert.equal(room.name, "Quiet corner");
    quiet = room;
  });

  it("follows the system's dark theme", async () => {
    const background = () => alice.evaluate(() => getComputedStyle(document.querySelector(".sidebar")).backgroundColor);
    await alice.emulateMedia({ colorScheme: "light" });
    const light = await background();
    await alice.emulateMedia({ colorScheme: "dark" });
    const dark = await background();
    assert.notEqual(light, dark);
    assert.equal(dark, "rgb(23, 29, 36)");
    await alice.emulateMedia({ colorScheme: "light" });
  });

  it("shows a desktop notification for a mention while the page is hidden", async () => {
    const context = await browser.newContext({ viewport: DESKTOP, baseURL: server.url });
    // A stand-in for the browser's Notification API, and a page in a background tab.
    await context.addInitScript(() => {
      window.shown = [];
      window.Notification = class {
        static permission = "default";
        static async requestPermission() {
          window.Notification.permission = "granted";
          return "granted";
        }
        constructor(title, options) {
          window.shown.push({ title, body: options.body });
        }
        close() {}
      };
      Object.defineProperty(document, "visibilityState", { get: () => window.fakeVisibility ?? "visible" });
    });
    const page = await context.newPage();
    await page.goto("/");
    await login(page, "alice", PASSWORD);
    await page.getByRole("button", { name: /^Notifications/ }).click();
    await page.getByRole("button", { name: "Show mentions as desktop notifications" }).click();
    await page.getByRole("button", { name: "Show mentions as desktop notifications" }).waitFor({ state: "detached" });
    await page.evaluate(() => (window.fakeVisibility = "hidden"));
    await post("bob", busy, "@alice the build is red");
    await eventually(async () => {
      const shown = await page.evaluate(() => window.shown);
      assert.equal(shown.length, 1);
      assert.match(shown[0].body, /the build is red/);
    });
    await context.close();
  });

  it("on a phone: touch-sized actions, Enter adds a line, no zoom on focus", async () => {
    bob = await openPage(browser, server.url, PHONE);
    await login(bob, "bob", PASSWORD);
    await open(bob, busy);
    const item = messageItem(bob, "first words");
    for (const name of [/^Reply to bob/, /^Delete message from bob/]) {
      const box = await item.getByRole("button", { name }).boundingBox();
      assert.ok(box.width >= 24 && box.height >= 24, `${name} is ${box.width}x${box.height}`);
    }
    await composer(bob).fill("no send on Enter");
    await composer(bob).press("Enter");
    assert.equal(await composer(bob).inputValue(), "no send on Enter\n");
    const fontSize = await composer(bob).evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
    assert.ok(fontSize >= 16, `composer font ${fontSize}px`);
    await bob.getByRole("button", { name: "Send" }).click();
    await messageItem(bob, "no send on Enter").locator("article[data-id]").waitFor();
  });

  it("keeps hover toolbars off the text and out of the pointer's way", async () => {
    await open(alice, busy);
    await post("bob", busy, "one line above");
    await post("alice", busy, "a message of mine");
    const mine = messageItem(alice, "a message of mine");
    // bob's phone has the room open: his read receipt adds a line; let it come first.
    await mine.getByText("Seen by bob").waitFor();
    const rect = (locator) =>
      locator.evaluate((el) => {
        const { x, y, width, height } = el.getBoundingClientRect();
        return { x, y, width, height };
      });
    const actions = mine.locator(".message-actions");
    await composer(alice).hover();
    assert.equal(await actions.evaluate((el) => getComputedStyle(el).visibility), "hidden");
    // Not hovered: the point where the Reply button would be belongs to something else.
    const box = await rect(actions.locator("button").first());
    const hit = await alice.evaluate(
      ({ x, y }) => document.elementFromPoint(x, y)?.closest("button")?.getAttribute("aria-label") ?? null,
      { x: box.x + box.width / 2, y: box.y + box.height / 2 },
    );
    assert.ok(!hit?.startsWith("Reply to alice"), `a hidden toolbar caught the pointer (${hit})`);
    await mine.locator("article").hover();
    await mine.getByRole("button", { name: /^Reply to alice/ }).waitFor();
    const shown = await rect(actions);
    const time = await rect(mine.locator("time"));
    const text = await rect(mine.locator(".content"));
    const above = await rect(messageItem(alice, "one line above").locator("article"));
    const overlaps = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
    assert.ok(!overlaps(shown, time), "the toolbar does not cover the time");
    assert.ok(!overlaps(shown, text), "the toolbar does not cover the text");
    assert.ok(!overlaps(shown, above), "the toolbar does not cover the message above");
  });

  it("recovers from an outage: loads a room opened offline, clears the error, keeps the outbox", async () => {
    await open(alice, busy);
    await server.stop();
    await alice.getByRole("status").filter({ hasText: "You are offline" }).waitFor();
    // A room opened while the server is down...
    await alice.goto(`/#/rooms/${quiet.id}`);
    await alice.getByRole("alert").filter({ hasText: "cannot be reached" }).waitFor();
    // ...and a message sent while it is down, still shown after switching rooms.
    await send(alice, "queued while down");
    await messageItem(alice, "queued while down").getByText("Sending…").waitFor();
    await alice.goto(`/#/rooms/${busy.id}`);
    await alice.getByRole("heading", { name: "Busy", exact: true }).waitFor();
    await alice.goto(`/#/rooms/${quiet.id}`);
    await messageItem(alice, "queued while down").getByText("Sending…").waitFor();
    // "Sending…", the offline banner and the error all meet contrast.
    await assertAccessible(alice, "a room during an outage, with a pending message");
    const outbox = await alice.evaluate(() => JSON.parse(localStorage.getItem("confab.outbox")));
    assert.equal(outbox.entries.length, 1);

    await server.start();
    await messageItem(alice, "read me later").waitFor({ timeout: 20_000 });
    await eventually(async () => assert.equal(await alice.getByText("cannot be reached").count(), 0), 20_000);
    await messageItem(alice, "queued while down").locator("article[data-id]").waitFor({ timeout: 20_000 });
    await eventually(async () => assert.equal(await alice.getByText("You are offline").count(), 0));
  });

  it("sends an outbox left by a reload during an outage once the server is back, once", async () => {
    await open(alice, quiet);
    await server.stop();
    await alice.getByRole("status").filter({ hasText: "You are offline" }).waitFor();
    await send(alice, "survives a reload");
    await messageItem(alice, "survives a reload").getByText("Sending…").waitFor();
    // The reload itself fails: the server that serves the page is down.
    await alice.reload().catch(() => {});
    await alice.waitForURL(/^chrome-error:/);
    await server.start();
    await alice.goto(`/#/rooms/${quiet.id}`);
    await messageItem(alice, "survives a reload").locator("article[data-id]").waitFor({ timeout: 20_000 });
    await alice.waitForTimeout(500);
    const page = await api("alice", "GET", `/api/chat/rooms/${quiet.id}/messages/`);
    assert.equal(page.results.filter((m) => m.content === "survives a reload").length, 1, "stored once");
    assert.equal(await messageItem(alice, "survives a reload").count(), 1, "shown once");
    assert.equal(await alice.evaluate(() => localStorage.getItem("confab.outbox")), null, "the outbox is empty");
  });
});

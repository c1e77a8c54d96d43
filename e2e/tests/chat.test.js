// Two people chat through the web client in two browser contexts: alice on
// a desktop-sized window, bob on a phone-sized one. Elements are found by
// role, label and text, as a screen reader user would find them.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  ConfabServer,
  DESKTOP,
  PHONE,
  composer,
  eventually,
  launchBrowser,
  login,
  messageAction,
  messageCount,
  messageItem,
  messageLog,
  openPage,
  screenshot,
  send,
} from "./harness.js";

const PASSWORD = "correct horse battery";

async function countOf(page, text) {
  return messageItem(page, text).count();
}

describe("two users chatting in the web client", () => {
  let server;
  let browser;
  let alice;
  let bob;
  let roomId;

  before(async () => {
    server = await new ConfabServer().start();
    server.createUser("alice", PASSWORD);
    server.createUser("bob", PASSWORD);
    server.createUser("carol", PASSWORD, { developer: false });
    browser = await launchBrowser();
  });

  after(async () => {
    for (const page of [alice, bob]) assert.deepEqual(page?.errors ?? [], [], "no script errors in the page");
    await browser?.close();
    await server?.cleanup();
  });

  it("serves the client with cache headers and compression", async () => {
    const response = await fetch(`${server.url}/app.js`, { headers: { "Accept-Encoding": "gzip" } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type"), /javascript/);
    assert.equal(response.headers.get("content-encoding"), "gzip");
    assert.equal(response.headers.get("cache-control"), "no-cache");
    const etag = response.headers.get("etag");
    const again = await fetch(`${server.url}/app.js`, { headers: { "If-None-Match": etag } });
    assert.equal(again.status, 304);
    const page = await fetch(`${server.url}/`);
    assert.match(page.headers.get("content-security-policy"), /script-src 'self'/);
    const missing = await fetch(`${server.url}/nope.js`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { detail: "Not found." });
  });

  it("tells a user without the developer role why chat is closed", async () => {
    const page = await openPage(browser, server.url, DESKTOP);
    await screenshot(page, "login-desktop");
    await login(page, "carol", "wrong password");
    await page.getByRole("alert").filter({ hasText: "Wrong username or password." }).waitFor();
    await login(page, "carol", PASSWORD);
    await page.getByRole("heading", { name: "No access to chat" }).waitFor();
    const refresh = await page.evaluate(() => localStorage.getItem("confab.refresh"));
    assert.ok(refresh, "the session keeps its refresh token");
    const blacklisted = page.waitForResponse((r) => r.url().endsWith("/api/token/blacklist/"));
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("button", { name: "Log in" }).waitFor();
    assert.equal((await blacklisted).status(), 200);
    // Logging out revoked the token on the server: a copy of it is worthless.
    const reuse = await fetch(`${server.url}/api/token/refresh/`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh }),
    });
    assert.equal(reuse.status, 401);
    assert.equal((await reuse.json()).detail, "Token is blacklisted");
    await page.context().close();
  });

  it("logs both users in, on a desktop and a phone", async () => {
    alice = await openPage(browser, server.url, DESKTOP);
    bob = await openPage(browser, server.url, PHONE);
    await screenshot(bob, "login-phone");
    await login(alice, "alice", PASSWORD);
    await login(bob, "bob", PASSWORD);
    await alice.getByRole("navigation", { name: "Rooms" }).waitFor();
    await bob.getByRole("navigation", { name: "Rooms" }).waitFor();
  });

  it("creates a room and lets the other user find and join it", async () => {
    await alice.getByRole("button", { name: "New room" }).click();
    const dialog = alice.getByRole("dialog", { name: "New room" });
    await dialog.getByLabel("Name").fill("Launch plans");
    await dialog.getByLabel("Description").fill("Where we ship from");
    await dialog.getByLabel("Type").selectOption("public");
    await dialog.getByRole("button", { name: "Create room" }).click();
    await alice.getByRole("heading", { name: "Launch plans" }).waitFor();
    roomId = Number(/#\/rooms\/(\d+)/.exec(alice.url())[1]);

    await bob.getByLabel("Search rooms").fill("launch");
    await bob.getByRole("button", { name: /^Launch plans/ }).click();
    await bob.getByRole("heading", { name: "Launch plans" }).waitFor();
    await bob.getByRole("button", { name: "Join room" }).click();
    await composer(bob).waitFor();
  });

  it("chats both ways live, with emoji and right-to-left text", async () => {
    await send(alice, "Hello bob 👋 ready to ship?");
    await messageItem(bob, "Hello bob 👋 ready to ship?").waitFor();
    await send(bob, "שלום alice, yes!");
    await messageItem(alice, "שלום alice, yes!").waitFor();
    const direction = await messageItem(alice, "שלום alice")
      .locator(".content[dir=auto]")
      .evaluate((p) => getComputedStyle(p).direction);
    assert.equal(direction, "rtl");
  });

  it("shows the typing indicator", async () => {
    await composer(bob).pressSequentially("thinking", { delay: 20 });
    await alice.getByRole("status").filter({ hasText: "bob is typing…" }).waitFor();
    await composer(bob).fill("");
  });

  it("replies with the quoted message, and Escape cancels a reply", async () => {
    await (await messageAction(alice, "שלום alice", /^Reply to bob/)).click();
    await alice.getByText("Replying to bob:").waitFor();
    await composer(alice).press("Escape");
    await alice.getByText("Replying to bob:").waitFor({ state: "hidden" });

    await (await messageAction(alice, "שלום alice", /^Reply to bob/)).click();
    await send(alice, "Then let's go");
    const reply = messageItem(bob, "Then let's go");
    await reply.waitFor();
    assert.match(await reply.locator("blockquote").innerText(), /bob: שלום alice, yes!/);
  });

  it("sends Shift+Enter as a new line and renders markup as plain text", async () => {
    await composer(bob).fill("line one");
    await composer(bob).press("Shift+Enter");
    await composer(bob).pressSequentially("line two");
    await bob.getByRole("button", { name: "Send" }).click(); // on a phone, Enter adds a line
    const multi = messageItem(alice, "line one");
    await multi.waitFor();
    assert.equal(await multi.locator(".content").innerText(), "line one\nline two");

    const markup = `<img src=x onerror="document.title='pwned'"><b>not bold</b>`;
    await send(bob, markup);
    await messageItem(alice, "not bold").waitFor();
    assert.equal(await messageLog(alice).locator("img").count(), 0);
    assert.equal(await messageLog(alice).locator("b").count(), 0);
    assert.equal(await messageItem(alice, "not bold").locator(".content").innerText(), markup);
  });

  it("wraps long words on a phone", async () => {
    const word = "x".repeat(400);
    await send(bob, word);
    const item = messageItem(bob, word);
    await item.waitFor();
    const overflows = await messageLog(bob).evaluate((log) => log.scrollWidth > log.clientWidth);
    assert.equal(overflows, false);
  });

  it("suggests @mentions and notifies the person mentioned", async () => {
    // alice is elsewhere: a mention she can see in the open room counts as read at once
    await alice.goto("/#/");
    await composer(bob).pressSequentially("ping @al");
    const option = bob.getByRole("option", { name: "@alice" });
    await option.waitFor();
    await composer(bob).press("Enter"); // picks the suggestion
    assert.equal(await composer(bob).inputValue(), "ping @alice ");
    await composer(bob).pressSequentially("please review");
    await bob.getByRole("button", { name: "Send" }).click();

    const bell = alice.getByRole("button", { name: "Notifications, 1 unread" });
    await bell.waitFor();
    await bell.click();
    const panel = alice.getByRole("region", { name: "Notifications" });
    await panel.getByText("ping @alice please review").waitFor();
    await screenshot(alice, "notifications-desktop");
    await panel.getByRole("button", { name: "Mark read" }).first().click();
    await alice.getByRole("button", { name: "Notifications", exact: true }).waitFor();
    await panel.getByRole("button", { name: "Close notifications" }).click();
    // Opening the room shows the mention, which reads it.
    await alice.goto(`/#/rooms/${roomId}`);
    await messageItem(alice, "ping @alice please review").waitFor();
    await alice.getByRole("navigation", { name: "Rooms" }).getByRole("button", { name: /^Launch plans(?!\W+\d+ unread)/ }).waitFor();
  });

  it("counts unread messages and clears them when the room is read", async () => {
    await alice.goto("/#/");
    await alice.getByText("Pick a room on the left, or create one.").waitFor();
    await send(bob, "unread one");
    await send(bob, "unread two");
    const entry = alice.getByRole("navigation", { name: "Rooms" }).getByRole("button", { name: /^Launch plans/ });
    await alice.getByRole("navigation", { name: "Rooms" }).getByRole("button", { name: /^Launch plans\W+2 unread/ }).waitFor();
    await screenshot(alice, "rooms-desktop");
    await entry.click();
    await messageItem(alice, "unread two").waitFor();
    await alice.getByRole("navigation", { name: "Rooms" }).getByRole("button", { name: /^Launch plans(?!\W+\d+ unread)/ }).waitFor();
    // bob sees that alice read up to his last message
    await messageItem(bob, "unread two").getByText("Seen by alice").waitFor();
  });

  it("deletes own messages and lets admins moderate", async () => {
    await send(bob, "oops, wrong room");
    await messageItem(alice, "oops, wrong room").waitFor();
    await messageItem(bob, "oops, wrong room").getByRole("button", { name: /^Delete message from bob/ }).click();
    await bob.getByRole("alertdialog", { name: "Delete this message?" }).getByRole("button", { name: "Delete message" }).click();
    await messageItem(alice, "oops, wrong room").waitFor({ state: "detached" });

    // alice created the room, so she may delete bob's messages too
    await (await messageAction(alice, "unread one", /^Delete message from bob/)).click();
    await alice.getByRole("alertdialog", { name: "Delete this message?" }).getByRole("button", { name: "Delete message" }).click();
    await messageItem(bob, "unread one").waitFor({ state: "detached" });
    // bob may not delete alice's
    assert.equal(await messageItem(bob, "Then let's go").getByRole("button", { name: /^Delete/ }).count(), 0);
  });

  it("lists members with roles and presence, and lets the admin promote", async () => {
    await alice.getByRole("button", { name: "Members" }).click();
    const panel = alice.getByRole("complementary", { name: "Members" });
    const bobRow = panel.getByRole("listitem").filter({ hasText: "bob" });
    await bobRow.getByText("online").waitFor();
    await bobRow.getByLabel("Role of bob").selectOption("moderator");
    await alice.getByRole("alertdialog", { name: "Make bob a moderator?" }).getByRole("button", { name: "Make moderator" }).click();
    await screenshot(alice, "room-desktop");
    await eventually(async () => {
      const members = await server.api("alice", PASSWORD, "GET", `/api/chat/rooms/${roomId}/members/`);
      assert.equal(members.find((m) => m.user.username === "bob").role, "moderator");
    });
    // bob was told, and the phone shows the room list one tap away
    await bob.getByRole("button", { name: /Notifications, \d+ unread/ }).waitFor();
    await screenshot(bob, "room-phone");
    await bob.getByRole("button", { name: "Back to rooms" }).click();
    await bob.getByRole("navigation", { name: "Rooms" }).waitFor();
    await screenshot(bob, "rooms-phone");
    await bob.getByRole("button", { name: /^Launch plans/ }).click();
    await alice.getByRole("button", { name: "Close members" }).click();
  });

  it("pages back through history", async () => {
    const room = await server.api("alice", PASSWORD, "POST", "/api/chat/rooms/", { name: "History" });
    for (let i = 1; i <= 120; i++) {
      await server.api("alice", PASSWORD, "POST", `/api/chat/rooms/${room.id}/messages/`, { content: `old ${i}` });
    }
    await alice.goto(`/#/rooms/${room.id}`);
    await messageItem(alice, "old 120").waitFor();
    // The newest posts may arrive live, over the socket, before the first page
    // of history does: the page then fills in around them.
    await eventually(async () => assert.equal(await messageCount(alice), 50));
    while (await alice.getByRole("button", { name: "Load older messages" }).isVisible()) {
      await alice.getByRole("button", { name: "Load older messages" }).click();
      await alice.waitForTimeout(100);
    }
    await alice.getByText("This is the start of the room.").waitFor();
    await eventually(async () => assert.equal(await messageCount(alice), 120));
  });

  it("removes a deleted room from everyone's list", async () => {
    const room = await server.api("alice", PASSWORD, "POST", "/api/chat/rooms/", { name: "Short-lived" });
    await server.api("bob", PASSWORD, "POST", `/api/chat/rooms/${room.id}/join/`);
    const bobsEntry = bob.getByRole("navigation", { name: "Rooms" }).getByRole("button", { name: /^Short-lived/ });
    await bob.getByRole("button", { name: "Back to rooms" }).click();
    await bob.getByLabel("Search rooms").fill("");
    await bobsEntry.waitFor();
    await alice.goto(`/#/rooms/${room.id}`);
    await alice.getByRole("button", { name: "Delete room" }).click();
    await alice.getByRole("alertdialog", { name: "Delete Short-lived?" }).getByRole("button", { name: "Delete room" }).click();
    await alice.getByText("This room was deleted.").waitFor();
    await bobsEntry.waitFor({ state: "detached" });
    await bob.getByRole("button", { name: /^Launch plans/ }).click();
    await alice.goto(`/#/rooms/${roomId}`);
    await messageItem(alice, "Then let's go").waitFor();
  });

  it("survives a server restart without losing or doubling a message", async () => {
    await server.stop();
    await alice.getByRole("status").filter({ hasText: "You are offline" }).waitFor();
    await bob.getByRole("status").filter({ hasText: "You are offline" }).waitFor();
    await screenshot(bob, "offline-phone");
    // sent while the server is down: shown as pending, retried with the same client_id
    await send(bob, "sent while the server was down");
    await messageItem(bob, "sent while the server was down").getByText("Sending…").waitFor();

    await server.start();
    await eventually(async () => assert.equal(await alice.getByText("You are offline").count(), 0), 20_000);
    await messageItem(alice, "sent while the server was down").waitFor({ timeout: 20_000 });
    // posted over REST while alice's socket may still be reconnecting: the resume covers it
    await server.api("bob", PASSWORD, "POST", `/api/chat/rooms/${roomId}/messages/`, { content: "after restart" });
    await messageItem(alice, "after restart").waitFor();
    await send(alice, "all good here");
    await messageItem(bob, "all good here").waitFor();

    await alice.waitForTimeout(500);
    for (const page of [alice, bob]) {
      assert.equal(await countOf(page, "sent while the server was down"), 1);
      assert.equal(await countOf(page, "after restart"), 1);
      assert.equal(await countOf(page, "Hello bob 👋"), 1);
    }
    const history = await server.api("alice", PASSWORD, "GET", `/api/chat/rooms/${roomId}/messages/`);
    const stored = history.results.filter((m) => m.content === "sent while the server was down");
    assert.equal(stored.length, 1, "stored once");
  });

  it("refreshed the short-lived access token while chatting", () => {
    // The server issues 6 s access tokens here; the client renews them before they expire.
    assert.ok(alice.refreshes >= 1, `alice's page refreshed ${alice.refreshes} times`);
    assert.ok(bob.refreshes >= 1, `bob's page refreshed ${bob.refreshes} times`);
  });

  it("keeps the session across a reload and logs out", async () => {
    await alice.reload();
    await messageItem(alice, "all good here").waitFor();
    await alice.getByRole("button", { name: "Log out" }).click();
    await alice.getByRole("button", { name: "Log in" }).waitFor();
    await alice.reload();
    await alice.getByRole("button", { name: "Log in" }).waitFor();
  });
});

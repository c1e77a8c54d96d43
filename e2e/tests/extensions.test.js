// Direct messages, edits, reactions, search and change resume in the web
// client: two people, each seeing the other's actions live, run twice with
// the window sizes swapped (alice on a desktop and bob on a phone, then the
// other way round).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  ConfabServer,
  DESKTOP,
  PHONE,
  assertAccessible,
  composer,
  eventually,
  launchBrowser,
  login,
  messageAction,
  messageItem,
  openPage,
  roomEntry,
  send,
} from "./harness.js";

const PASSWORD = "correct horse battery";

/** On a phone the room list and the room take turns: back to the list. */
async function showRoomList(page) {
  const back = page.getByRole("button", { name: "Back to rooms" });
  if (await back.isVisible()) await back.click();
}

for (const [aliceSize, bobSize] of [
  [DESKTOP, PHONE],
  [PHONE, DESKTOP],
]) {
  const sizes = `alice at ${aliceSize.width}px, bob at ${bobSize.width}px`;
describe(`direct messages, edits, reactions, search and resume (${sizes})`, () => {
  let server;
  let browser;
  let alice;
  let bob;
  let bobCutOff = false;
  const bobSocketUrls = [];

  before(async () => {
    server = await new ConfabServer().start();
    server.createUser("alice", PASSWORD);
    server.createUser("bob", PASSWORD);
    browser = await launchBrowser();
    alice = await openPage(browser, server.url, aliceSize);
    bob = await openPage(browser, server.url, bobSize);
    // bob's sockets pass through a route the resume test can cut. Playwright
    // routes sockets from a script it adds to the page: installed, then reloaded.
    await bob.routeWebSocket(/\/ws\/chat\//, (socket) => {
      bobSocketUrls.push(socket.url());
      if (bobCutOff) socket.close();
      else socket.connectToServer();
    });
    await bob.reload();
    await login(alice, "alice", PASSWORD);
    await login(bob, "bob", PASSWORD);
    await alice.getByRole("navigation", { name: "Rooms" }).waitFor();
    await bob.getByRole("navigation", { name: "Rooms" }).waitFor();
  });

  after(async () => {
    for (const page of [alice, bob]) assert.deepEqual(page?.errors ?? [], [], "no script errors in the page");
    await browser?.close();
    await server?.cleanup();
  });

  it("starts a direct conversation that the other person sees live", async () => {
    await alice.getByRole("button", { name: "New message" }).click();
    const dialog = alice.getByRole("dialog", { name: "New direct message" });
    await dialog.getByLabel("Find a developer").fill("bo");
    await dialog.getByRole("button", { name: "Message bob" }).click();
    await alice.getByRole("heading", { name: "bob", exact: true }).waitFor();
    await assertAccessible(alice, "a direct conversation");
    await send(alice, "teh plan is ready");
    // bob's list gains the conversation, under "Direct messages", named after alice.
    const entry = bob.getByRole("list", { name: "Direct messages" }).getByRole("button", { name: /^alice/ });
    await entry.waitFor();
    await entry.click();
    await messageItem(bob, "teh plan is ready").waitFor();
    // Nobody can leave or rename it.
    assert.equal(await bob.getByRole("button", { name: "Leave room" }).count(), 0);
    assert.equal(await alice.getByRole("button", { name: "Room settings" }).count(), 0);
  });

  it("edits the last message with the Up key, and the other side sees it", async () => {
    await composer(alice).click();
    await composer(alice).press("ArrowUp");
    const editor = alice.getByRole("textbox", { name: "Edit your message" });
    await editor.waitFor();
    await editor.fill("the plan is ready");
    await editor.press("Enter");
    await messageItem(alice, "the plan is ready").getByText("(edited)").waitFor();
    await messageItem(bob, "the plan is ready").getByText("(edited)").waitFor();
    assert.equal(await messageItem(bob, "teh plan").count(), 0);
    // Escape leaves an edit without saving.
    await (await messageAction(alice, "the plan is ready", /^Edit your message/)).click();
    await alice.getByRole("textbox", { name: "Edit your message" }).fill("something else");
    await alice.getByRole("textbox", { name: "Edit your message" }).press("Escape");
    await messageItem(alice, "the plan is ready").waitFor();
    assert.equal(await messageItem(alice, "something else").count(), 0);
  });

  it("reacts with the picker and toggles a reaction by its count", async () => {
    const mine = messageItem(bob, "the plan is ready");
    await (await messageAction(bob, "the plan is ready", /^React to alice/)).click();
    await mine.getByRole("group", { name: "Pick a reaction" }).getByRole("button", { name: "React with 👍" }).click();
    const chip = messageItem(alice, "the plan is ready").getByRole("button", { name: /^👍 1/ });
    await chip.waitFor();
    assert.equal(await chip.getAttribute("aria-pressed"), "false");
    await chip.click();
    const both = messageItem(bob, "the plan is ready").getByRole("button", { name: /^👍 2/ });
    await both.waitFor();
    assert.equal(await both.getAttribute("aria-pressed"), "true", "bob's own reaction shows pressed");
    const box = await both.boundingBox();
    if (bobSize === PHONE) assert.ok(box.height >= 24, `the chip is ${box.height}px high on a phone`);
    // Clicking one's own reaction takes it back.
    await both.click();
    await messageItem(alice, "the plan is ready").getByRole("button", { name: /^👍 1/ }).waitFor();
  });

  it("searches messages and jumps to a result", async () => {
    const room = await server.api("alice", PASSWORD, "POST", "/api/chat/rooms/", { name: "Backlog" });
    for (let i = 1; i <= 60; i++) {
      const content = i === 3 ? "数据库迁移 checklist" : `filler ${i}`;
      await server.api("alice", PASSWORD, "POST", `/api/chat/rooms/${room.id}/messages/`, { content });
    }
    await alice.getByRole("searchbox", { name: "Search messages" }).fill("数据库");
    await alice.getByRole("searchbox", { name: "Search messages" }).press("Enter");
    const results = alice.getByRole("region", { name: /^Results for/ });
    await results.getByText("1 message").waitFor();
    await assertAccessible(alice, "search results");
    await results.getByRole("button", { name: /数据库迁移 checklist/ }).click();
    await alice.getByRole("heading", { name: "Backlog", exact: true }).waitFor();
    // The result was older than the first page: it was loaded, shown and focused.
    await eventually(async () =>
      assert.match(await alice.evaluate(() => document.activeElement.closest("li")?.textContent ?? ""), /数据库迁移/),
    );
    await showRoomList(alice);
    await roomEntry(alice, "Backlog").waitFor();
  });

  it("catches up on the edits and reactions it missed while cut off (?since=)", async () => {
    // bob's page is kept from reconnecting while alice changes things.
    bobCutOff = true;
    const before = bobSocketUrls.length;
    await server.restart();
    const [direct] = (await server.api("alice", PASSWORD, "GET", "/api/chat/rooms/?is_direct=true")).results;
    const history = await server.api("alice", PASSWORD, "GET", `/api/chat/rooms/${direct.id}/messages/`);
    const plan = history.results.find((m) => m.content === "the plan is ready");
    await server.api("alice", PASSWORD, "PATCH", `/api/chat/messages/${plan.id}/`, { content: "the plan is final" });
    await server.api("alice", PASSWORD, "POST", `/api/chat/messages/${plan.id}/reactions/`, { emoji: "🎉" });
    await eventually(() => assert.ok(bobSocketUrls.length > before, "bob tried to reconnect"));
    bobCutOff = false;
    const message = messageItem(bob, "the plan is final");
    await message.getByText("(edited)").waitFor({ timeout: 20_000 });
    await message.getByRole("button", { name: /^🎉 1/ }).waitFor();
    assert.equal(await messageItem(bob, "the plan is ready").count(), 0);
    // It resumed the conversation from its change number, not from a message id.
    const resumed = bobSocketUrls.at(-1);
    const since = new URL(resumed).searchParams.get("since") ?? "";
    assert.ok(since.split(",").some((point) => point.startsWith(`${direct.id}:`)), resumed);
  });
});
}

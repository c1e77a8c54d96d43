// Direct messages, edits, reactions and search in the web client: alice on
// a desktop-sized window, bob on a phone-sized one, each seeing the other's
// actions live.

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

describe("direct messages, edits, reactions and search", () => {
  let server;
  let browser;
  let alice;
  let bob;

  before(async () => {
    server = await new ConfabServer().start();
    server.createUser("alice", PASSWORD);
    server.createUser("bob", PASSWORD);
    browser = await launchBrowser();
    alice = await openPage(browser, server.url, DESKTOP);
    bob = await openPage(browser, server.url, PHONE);
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

  it("reacts from a phone and toggles a reaction by its count", async () => {
    const mine = messageItem(bob, "the plan is ready");
    await mine.getByRole("button", { name: /^React to alice/ }).click();
    await mine.getByRole("group", { name: "Pick a reaction" }).getByRole("button", { name: "React with 👍" }).click();
    const chip = messageItem(alice, "the plan is ready").getByRole("button", { name: /^👍 1/ });
    await chip.waitFor();
    assert.equal(await chip.getAttribute("aria-pressed"), "false");
    await chip.click();
    const both = messageItem(bob, "the plan is ready").getByRole("button", { name: /^👍 2/ });
    await both.waitFor();
    assert.equal(await both.getAttribute("aria-pressed"), "true", "bob's own reaction shows pressed");
    const box = await both.boundingBox();
    assert.ok(box.height >= 24, `the chip is ${box.height}px high on a phone`);
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
    await roomEntry(alice, "Backlog").waitFor();
  });
});

// A short conversation set up for the README's screenshots (docs/img/ holds
// copies of e2e/screenshots/readme-*.png), checked on the way so a broken
// screen cannot be photographed: code, a link, a reply, a mention, a day
// heading, the unread divider, members with presence, at both sizes and in
// the dark theme.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  ConfabServer,
  DESKTOP,
  PHONE,
  launchBrowser,
  login,
  messageItem,
  messageLog,
  openPage,
  screenshot,
} from "./harness.js";

const PASSWORD = "correct horse battery";

describe("the README tour", () => {
  let server;
  let browser;
  let room;
  const api = (user, method, path, body) => server.api(user, PASSWORD, method, path, body);
  const post = (user, content, extra = {}) =>
    api(user, "POST", `/api/chat/rooms/${room.id}/messages/`, { content, ...extra });

  before(async () => {
    server = await new ConfabServer().start();
    for (const name of ["alice", "bob", "mei"]) server.createUser(name, PASSWORD);
    room = await api("alice", "POST", "/api/chat/rooms/", {
      name: "release-2.4",
      description: "Shipping 2.4 on Friday",
    });
    await api("alice", "POST", "/api/chat/rooms/", { name: "design", description: "Mockups and reviews" });
    await api("alice", "POST", "/api/chat/rooms/", { name: "incidents", room_type: "group" });
    for (const name of ["bob", "mei"]) await api(name, "POST", `/api/chat/rooms/${room.id}/join/`);
    const checklist = await post("alice", "Morning! The release checklist is at https://example.com/release/2.4");
    await post("alice", "Can someone run the migration dry run?");
    await post("bob", "On it. Running `confab migrate --dry-run` against staging now");
    await post("bob", "```\n3 migrations to apply\n  0007_reactions\n  0008_search_index\n  0009_change_seq\n```");
    browser = await launchBrowser();
    // alice reads up to here; what follows is new to her.
    await api("alice", "POST", `/api/chat/messages/${checklist.id + 3}/read/`);
    await post("mei", "Dry run looks clean on my side too 🎉", { reply_to: checklist.id + 2 });
    await post("mei", "@alice shall I tag the release candidate?");
  });

  after(async () => {
    await browser?.close();
    await server?.cleanup();
  });

  it("photographs the room on a desktop, light and dark", async () => {
    const page = await openPage(browser, server.url, DESKTOP);
    await login(page, "alice", PASSWORD);
    await page.goto(`/#/rooms/${room.id}`);
    await messageLog(page).getByText("New messages").waitFor();
    await messageLog(page).getByRole("heading", { name: "Today" }).waitFor();
    await page.getByRole("button", { name: "Members" }).click();
    await page.getByRole("complementary", { name: "Members" }).getByText("mei").waitFor();
    assert.equal(await messageItem(page, "shall I tag").locator(".mention-me").innerText(), "@alice");
    await page.mouse.move(0, 0);
    await screenshot(page, "readme-desktop");
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, "readme-desktop-dark");
    await page.context().close();
  });

  it("photographs the room on a phone", async () => {
    const page = await openPage(browser, server.url, PHONE);
    await login(page, "bob", PASSWORD);
    await page.goto(`/#/rooms/${room.id}`);
    await messageItem(page, "shall I tag").waitFor();
    await screenshot(page, "readme-phone");
    await page.context().close();
  });
});

// axe-core on every screen, dialog and panel of the web client, at desktop
// and phone size, in the light and the dark theme: no critical and no
// serious violation anywhere.

import { after, before, describe, it } from "node:test";
import {
  ConfabServer,
  DESKTOP,
  PHONE,
  assertAccessible,
  composer,
  launchBrowser,
  login,
  messageAction,
  messageItem,
  openPage,
} from "./harness.js";

const PASSWORD = "correct horse battery";

describe("accessibility (axe-core)", () => {
  let server;
  let browser;
  let room;

  before(async () => {
    server = await new ConfabServer().start();
    server.createUser("alice", PASSWORD);
    server.createUser("bob", PASSWORD);
    server.createUser("carol", PASSWORD, { developer: false });
    room = await server.api("alice", PASSWORD, "POST", "/api/chat/rooms/", {
      name: "Release",
      description: "Shipping the next version",
    });
    await server.api("bob", PASSWORD, "POST", `/api/chat/rooms/${room.id}/join/`);
    await server.api("alice", PASSWORD, "POST", "/api/chat/rooms/", { name: "Elsewhere", room_type: "public" });
    const post = (user, content) =>
      server.api(user, PASSWORD, "POST", `/api/chat/rooms/${room.id}/messages/`, { content });
    await post("alice", "Morning! The checklist is at https://example.com/release");
    await post("bob", "Running `cargo test` now");
    await post("bob", "```\nall 214 tests passed\n```");
    await post("bob", "@alice ready when you are");
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.cleanup();
  });

  for (const [size, viewport] of [
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ]) {
    for (const scheme of ["light", "dark"]) {
      it(`has no serious violations at ${size} size, ${scheme} theme`, async () => {
        const page = await openPage(browser, server.url, viewport);
        await page.emulateMedia({ colorScheme: scheme });
        const check = (what) => assertAccessible(page, `${what} (${size}, ${scheme})`);
        await page.getByRole("button", { name: "Log in" }).waitFor();
        await page.getByRole("main").getByRole("heading", { level: 1, name: "Confab" }).waitFor();
        await check("the login screen");

        await login(page, "carol", PASSWORD);
        await page.getByRole("heading", { name: "No access to chat" }).waitFor();
        await check("the no-access screen");
        await page.getByRole("button", { name: "Log out" }).click();

        await login(page, "alice", PASSWORD);
        await page.getByRole("navigation", { name: "Rooms" }).waitFor();
        await page.getByRole("banner").getByRole("heading", { level: 1, name: "Confab" }).waitFor();
        await check("the room list");

        await page.getByRole("button", { name: "New room" }).click();
        await page.getByRole("dialog", { name: "New room" }).waitFor();
        await check("the new room dialog");
        await page.getByRole("button", { name: "Cancel" }).click();

        await page.goto(`/#/rooms/${room.id}`);
        await messageItem(page, "ready when you are").waitFor();
        await composer(page).fill("a draft with @");
        await page.getByRole("option", { name: "@bob" }).waitFor();
        await check("an open room, with mention suggestions");
        await composer(page).fill("");

        await (await messageAction(page, "ready when you are", /^Delete message from bob/)).click();
        await page.getByRole("alertdialog", { name: "Delete this message?" }).waitFor();
        await check("the delete confirmation");
        await page.getByRole("button", { name: "Cancel" }).click();

        await page.getByRole("button", { name: "Room settings" }).click();
        await page.getByRole("dialog", { name: "Room settings" }).waitFor();
        await check("the room settings dialog");
        await page.getByRole("button", { name: "Cancel" }).click();

        await page.getByRole("button", { name: "Members" }).click();
        await page.getByRole("complementary", { name: "Members" }).getByText("bob").waitFor();
        await check("the members panel");
        await page.getByRole("button", { name: "Close members" }).click();

        await page.getByRole("button", { name: /^Notifications/ }).click();
        await page.getByRole("region", { name: "Notifications" }).waitFor();
        await check("the notifications panel");
        await page.getByRole("button", { name: "Close notifications" }).click();

        await page.getByRole("button", { name: "Log out" }).click();
        await page.getByRole("button", { name: "Log in" }).waitFor();
        await page.context().close();
      });
    }
  }
});

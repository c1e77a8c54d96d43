// Files in the web client, at both window sizes: one person attaches an
// image and a text file with the button (and others by drop and paste),
// watches them upload and sends them; the other sees the image as a
// thumbnail that opens full size, and the text file as a named link with
// its size.

import assert from "node:assert/strict";
import { deflateSync, crc32 } from "node:zlib";
import { after, before, describe, it } from "node:test";
import {
  ConfabServer,
  DESKTOP,
  PHONE,
  assertAccessible,
  launchBrowser,
  login,
  messageItem,
  openPage,
  roomEntry,
} from "./harness.js";

const PASSWORD = "correct horse battery";

/** A solid-colour RGB PNG of `width` x `height`. */
function png(width, height) {
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, Buffer.from([30, 120, 200]))]);
  const pixels = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(pixels)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

for (const [senderSize, readerSize] of [
  [DESKTOP, PHONE],
  [PHONE, DESKTOP],
]) {
  describe(`sharing files (sender at ${senderSize.width}px, reader at ${readerSize.width}px)`, () => {
    let server;
    let browser;
    let alice;
    let bob;

    before(async () => {
      server = await new ConfabServer().start();
      server.createUser("alice", PASSWORD);
      server.createUser("bob", PASSWORD);
      const room = await server.api("alice", PASSWORD, "POST", "/api/chat/rooms/", { name: "Design", room_type: "public" });
      await server.api("bob", PASSWORD, "POST", `/api/chat/rooms/${room.id}/join/`, {});
      browser = await launchBrowser();
      alice = await openPage(browser, server.url, senderSize);
      bob = await openPage(browser, server.url, readerSize);
      for (const [page, name] of [
        [alice, "alice"],
        [bob, "bob"],
      ]) {
        await login(page, name, PASSWORD);
        await roomEntry(page, "Design").click();
        await page.getByRole("heading", { name: "Design", exact: true }).waitFor();
      }
    });

    after(async () => {
      for (const page of [alice, bob]) assert.deepEqual(page?.errors ?? [], [], "no script errors in the page");
      await browser?.close();
      await server?.cleanup();
    });

    it("attaches an image and a file, uploads them and sends them", async () => {
      const chooser = alice.waitForEvent("filechooser");
      await alice.getByRole("button", { name: "Attach files" }).click();
      await (await chooser).setFiles([
        { name: "mock-up.png", mimeType: "image/png", buffer: png(640, 400) },
        { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("deploy at five\n".repeat(200)) },
      ]);
      const list = alice.getByRole("list", { name: "Files to send" });
      await list.getByText("mock-up.png").waitFor();
      await assertAccessible(alice, "the composer with files");
      await list.getByText("Ready").nth(1).waitFor();
      await alice.getByRole("textbox", { name: "Message" }).fill("the mock-up and my notes");
      await alice.getByRole("button", { name: "Send" }).click();
      await list.waitFor({ state: "detached" });

      for (const page of [alice, bob]) {
        const message = messageItem(page, "the mock-up and my notes");
        const image = message.getByRole("img", { name: "mock-up.png" });
        await image.waitFor();
        // The thumbnail really loaded (a signed link, no token), within 320 pixels.
        await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await image.elementHandle());
        const natural = await image.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
        assert.deepEqual(natural, [320, 200]);
        const box = await image.boundingBox();
        assert.ok(box.width <= page.viewportSize().width, "the thumbnail fits the window");
        const link = message.getByRole("link", { name: /mock-up\.png, image, opens full size/ });
        const full = await page.request.get(await link.getAttribute("href"));
        assert.equal(full.status(), 200);
        assert.equal(full.headers()["content-type"], "image/png");
        const file = message.getByRole("link", { name: /notes\.txt/ });
        await file.getByText("(3 KB)").waitFor();
        const download = await page.request.get(await file.getAttribute("href"));
        assert.match(download.headers()["content-disposition"], /^attachment;/);
      }
      await assertAccessible(bob, "a message with files");
    });

    it("sends a file alone, and takes back one not wanted", async () => {
      const chooser = alice.waitForEvent("filechooser");
      await alice.getByRole("button", { name: "Attach files" }).click();
      await (await chooser).setFiles([
        { name: "keep.png", mimeType: "image/png", buffer: png(50, 50) },
        { name: "oops.txt", mimeType: "text/plain", buffer: Buffer.from("not this one") },
      ]);
      const list = alice.getByRole("list", { name: "Files to send" });
      await list.getByText("Ready").nth(1).waitFor();
      await alice.getByRole("button", { name: "Remove oops.txt" }).click();
      await alice.getByRole("button", { name: "Send" }).click();
      await bob.getByRole("img", { name: "keep.png" }).waitFor();
      assert.equal(await bob.getByRole("link", { name: /oops\.txt/ }).count(), 0);
    });

    it("takes a file dropped on the room and an image pasted into the composer", async () => {
      // A drag from the desktop, as the browser delivers it: dragover, then drop, on the room.
      const dropped = await alice.evaluateHandle(() => {
        const transfer = new DataTransfer();
        transfer.items.add(new File(["dropped on the room\n"], "dropped.txt", { type: "text/plain" }));
        return transfer;
      });
      const room = alice.getByRole("main", { name: "Room Design" });
      await room.dispatchEvent("dragover", { dataTransfer: dropped });
      await room.dispatchEvent("drop", { dataTransfer: dropped });
      const list = alice.getByRole("list", { name: "Files to send" });
      await list.getByText("dropped.txt").waitFor();
      // A screenshot pasted from the clipboard: a file with no useful name.
      await alice.getByRole("textbox", { name: "Message" }).evaluate((textarea, bytes) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], "image.png", { type: "image/png" }));
        const paste = new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true });
        textarea.dispatchEvent(paste);
      }, [...png(80, 60)]);
      await list.getByText("image.png").waitFor();
      await list.getByText("Ready").nth(1).waitFor();
      await alice.getByRole("textbox", { name: "Message" }).fill("dropped and pasted");
      // The post is held back, so the message shows as sending, naming its files.
      let release;
      const held = new Promise((resolve) => (release = resolve));
      const posts = "**/api/chat/rooms/*/messages/";
      await alice.route(posts, async (route) => {
        if (route.request().method() === "POST") await held;
        await route.continue();
      });
      await alice.getByRole("button", { name: "Send" }).click();
      const sending = alice.locator("li.message.pending").filter({ hasText: "dropped and pasted" });
      await sending.getByText("dropped.txt").waitFor();
      await sending.getByText("image.png").waitFor();
      release();
      await sending.waitFor({ state: "detached" });
      await alice.unroute(posts);
      const message = messageItem(bob, "dropped and pasted");
      await message.getByRole("img", { name: "image.png" }).waitFor();
      await message.getByRole("link", { name: /dropped\.txt/ }).waitFor();
    });
  });
}

// The Confab web client: screens, the room list, the message view, members
// and notifications. All server traffic goes through confab-client.js; this
// file only keeps UI state and renders it.

import { ApiError, ConfabClient, NetworkError } from "./confab-client.js";
import { $, confirmButton, debounce, h, messageText, replaceChildren, timeElement } from "./dom.js";
import { Composer } from "./composer.js";

const client = new ConfabClient({ storage: globalThis.localStorage });
const PAGE = 50;
const TYPING_SHOWN_MS = 6000;

const state = {
  rooms: new Map(), // id -> room object from the API, kept current by live frames
  roomId: null, // the open room
  messages: new Map(), // the open room's messages, id -> message
  hasOlder: false,
  loadingOlder: false,
  readers: new Map(), // roomId -> Map(userId -> {user, messageId}) from message_read frames
  online: new Map(), // roomId -> Set(userId), from the members list and presence frames
  typing: new Map(), // userId -> {user, timer} in the open room
  members: [],
  notifications: [],
  unreadNotifications: 0,
  live: null,
  wasOffline: false,
};

const me = () => client.user;
const currentRoom = () => state.rooms.get(state.roomId) ?? null;
const canModerate = (room) => room?.my_role === "admin" || room?.my_role === "moderator";

// ---- screens ----------------------------------------------------------------

function show(screen) {
  for (const id of ["loading-screen", "login-screen", "no-access-screen", "chat-screen"]) {
    $(id).hidden = id !== screen;
  }
}

async function boot() {
  client.on("logout", () => {
    state.live = null;
    if (state.roomId) closeRoom();
    state.rooms = new Map();
    state.readers.clear();
    state.online.clear();
    show("login-screen");
    $("login-username").focus();
  });
  try {
    if (await client.restore()) return enter();
  } catch (error) {
    $("login-error").textContent = describe(error);
  }
  show("login-screen");
  $("login-username").focus();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("login-error");
  error.textContent = "";
  const button = event.submitter ?? $("login-form").querySelector("button");
  button.disabled = true;
  try {
    await client.login($("login-username").value.trim(), $("login-password").value);
    $("login-password").value = "";
    await enter();
  } catch (failure) {
    error.textContent =
      failure instanceof ApiError && failure.status === 401 ? "Wrong username or password." : describe(failure);
  } finally {
    button.disabled = false;
  }
});

$("no-access-logout").addEventListener("click", () => client.logout());
$("logout-button").addEventListener("click", () => client.logout());

async function enter() {
  const user = me();
  if (!user.is_developer) {
    $("no-access-user").textContent = user.username;
    $("no-access-name").textContent = user.username;
    show("no-access-screen");
    return;
  }
  $("me-name").textContent = user.username;
  show("chat-screen");
  await loadRooms();
  loadNotifications();
  connectLive();
  openFromLocation();
}

function describe(error) {
  if (error instanceof NetworkError) return "The server cannot be reached. Check your connection.";
  return error?.message ?? String(error);
}

// ---- rooms --------------------------------------------------------------------

async function loadRooms() {
  const rooms = await client.allRooms();
  state.rooms = new Map(rooms.map((room) => [room.id, room]));
  for (const room of rooms) if (room.is_member) state.live?.track(room.id, room.last_message?.id ?? 0);
  renderRooms();
}

async function refreshRoom(id) {
  try {
    const room = await client.room(id);
    state.rooms.set(id, room);
    if (room.is_member) state.live?.track(id, room.last_message?.id ?? 0);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    state.rooms.delete(id);
    if (state.roomId === id) closeRoom("This room is no longer available.");
  }
  renderRooms();
  if (state.roomId === id) renderRoomHead();
}

function activity(room) {
  return room.last_message?.created_at ?? room.created_at;
}

function renderRooms() {
  const search = $("room-search").value.trim().toLowerCase();
  const matches = [...state.rooms.values()]
    .filter((room) => room.is_active && (!search || room.name.toLowerCase().includes(search)))
    .sort((a, b) => activity(b).localeCompare(activity(a)) || b.id - a.id);
  const mine = matches.filter((room) => room.is_member);
  const others = matches.filter((room) => !room.is_member);
  replaceChildren($("room-list"), mine.map(roomItem));
  replaceChildren($("public-room-list"), others.map(roomItem));
  $("rooms-empty").hidden = mine.length > 0;
  $("public-rooms-heading").hidden = others.length === 0;
  document.title = totalUnread() ? `(${totalUnread()}) Confab` : "Confab";
}

function totalUnread() {
  let total = 0;
  for (const room of state.rooms.values()) if (room.is_member) total += room.unread_count;
  return total;
}

function roomItem(room) {
  const last = room.last_message;
  const preview = last ? `${last.sender.username}: ${last.content}` : room.description || roomTypeLabel(room);
  const unread = room.is_member && room.unread_count > 0;
  return h(
    "li",
    {},
    h(
      "button",
      {
        type: "button",
        className: `room-item${unread ? " unread" : ""}`,
        "aria-current": room.id === state.roomId ? "true" : null,
        onclick: () => navigateTo(room.id),
      },
      avatar(room.name, room.room_type === "public" ? "#" : "🔒"),
      h(
        "span",
        { className: "room-line" },
        h("span", { className: "room-name", dir: "auto" }, room.name),
        unread ? h("span", { className: "badge", "aria-label": `${room.unread_count} unread` }, room.unread_count) : null,
      ),
      h("span", { className: "room-preview", dir: "auto" }, preview),
    ),
  );
}

/** A coloured initial, the same colour for the same name everywhere; decorative. */
function avatar(name, mark) {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  const initial = mark ?? [...name.trim()][0]?.toUpperCase() ?? "?";
  return h("span", { className: `avatar hue-${hash % 8}`, "aria-hidden": "true" }, initial);
}

function roomTypeLabel(room) {
  return { public: "Public room", private: "Private room", group: "Group room" }[room.room_type] ?? room.room_type;
}

// Search filters what is loaded at once, then asks the server, which also
// finds public rooms created since the list was loaded.
$("room-search").addEventListener("input", debounce(renderRooms, 60));
$("room-search").addEventListener(
  "input",
  debounce(async () => {
    const search = $("room-search").value.trim();
    if (!search) return;
    try {
      for (const room of await client.allRooms(search)) if (!state.rooms.has(room.id)) state.rooms.set(room.id, room);
      renderRooms();
    } catch {
      // The local filter still shows what is known.
    }
  }, 250),
);

// New room dialog
const newRoomDialog = $("new-room-dialog");
$("new-room-button").addEventListener("click", () => {
  $("new-room-form").reset();
  $("new-room-error").textContent = "";
  newRoomDialog.showModal();
  $("new-room-name").focus();
});
$("new-room-cancel").addEventListener("click", () => newRoomDialog.close());
$("new-room-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const room = await client.createRoom({
      name: $("new-room-name").value,
      description: $("new-room-description").value,
      room_type: $("new-room-type").value,
    });
    state.rooms.set(room.id, room);
    state.live?.track(room.id, 0);
    newRoomDialog.close();
    renderRooms();
    navigateTo(room.id);
  } catch (error) {
    $("new-room-error").textContent = describe(error);
  }
});

// ---- navigation ---------------------------------------------------------------

function navigateTo(roomId) {
  location.hash = roomId ? `#/rooms/${roomId}` : "#/";
}

function openFromLocation() {
  const match = /^#\/rooms\/(\d+)$/.exec(location.hash);
  const id = match ? Number(match[1]) : null;
  if (id && id !== state.roomId) openRoom(id);
  else if (!id && state.roomId) closeRoom();
}

window.addEventListener("hashchange", () => {
  if (!$("chat-screen").hidden) openFromLocation();
});

$("back-button").addEventListener("click", () => navigateTo(null));

// ---- the open room ------------------------------------------------------------

async function openRoom(id) {
  state.roomId = id;
  state.messages = new Map();
  state.typing.clear();
  composer.reset();
  document.body.classList.add("room-open");
  $("room-placeholder").hidden = true;
  $("room-content").hidden = false;
  replaceChildren($("message-list"));
  renderTyping();
  if (!state.rooms.has(id)) await refreshRoom(id);
  if (state.roomId !== id || !state.rooms.has(id)) return;
  renderRoomHead();
  renderRooms();
  if (!$("members-panel").hidden) loadMembers();
  try {
    const page = await client.messages(id, { limit: PAGE });
    if (state.roomId !== id) return;
    state.hasOlder = Boolean(page.next);
    for (const message of page.results) state.messages.set(message.id, message);
    renderMessages({ stickToBottom: true });
    markRead();
  } catch (error) {
    $("composer-error").textContent = describe(error);
  }
  if (matchMedia("(min-width: 761px)").matches) $("message-input").focus();
}

function closeRoom(notice) {
  state.roomId = null;
  state.messages = new Map();
  document.body.classList.remove("room-open");
  $("room-content").hidden = true;
  $("room-placeholder").hidden = false;
  replaceChildren($("room-placeholder"), h("p", {}, notice ?? "Pick a room on the left, or create one."));
  $("members-panel").hidden = true;
  $("members-button").setAttribute("aria-expanded", "false");
  if (location.hash !== "#/" && location.hash !== "") history.replaceState(null, "", "#/");
  renderRooms();
}

function renderRoomHead() {
  const room = currentRoom();
  if (!room) return;
  $("room-view").setAttribute("aria-label", `Room ${room.name}`);
  $("room-name").textContent = room.name;
  const parts = [roomTypeLabel(room), `${room.member_count} member${room.member_count === 1 ? "" : "s"}`];
  if (room.description) parts.push(room.description);
  $("room-meta").textContent = parts.join(" · ");
  $("join-button").hidden = room.is_member;
  $("leave-button").hidden = !room.is_member;
  $("delete-room-button").hidden = room.my_role !== "admin";
  $("composer").hidden = !room.is_member;
  $("not-member-note").hidden = room.is_member;
  $("add-member-form").hidden = !canModerate(room);
}

$("join-button").addEventListener("click", async () => {
  const id = state.roomId;
  try {
    const { room } = await client.joinRoom(id);
    state.rooms.set(id, room);
    state.live?.track(id, room.last_message?.id ?? 0);
    renderRoomHead();
    renderRooms();
    $("message-input").focus();
  } catch (error) {
    $("composer-error").textContent = describe(error);
  }
});

confirmButton($("leave-button"), "Leave room", "Confirm leave", async () => {
  const id = state.roomId;
  try {
    await client.leaveRoom(id);
    state.live?.forget(id);
    navigateTo(null);
    await refreshRoom(id);
  } catch (error) {
    $("composer-error").textContent = describe(error);
  }
});

confirmButton($("delete-room-button"), "Delete room", "Confirm delete", async () => {
  const id = state.roomId;
  try {
    await client.deleteRoom(id);
    state.rooms.delete(id);
    if (state.roomId === id) closeRoom("This room was deleted.");
  } catch (error) {
    $("composer-error").textContent = describe(error);
  }
});

// ---- messages -----------------------------------------------------------------

const messagesBox = $("messages");

function atBottom() {
  return messagesBox.scrollHeight - messagesBox.scrollTop - messagesBox.clientHeight < 60;
}

function renderMessages({ stickToBottom = atBottom(), keepOffsetFrom = null } = {}) {
  const room = currentRoom();
  const sorted = [...state.messages.values()].sort((a, b) => a.id - b.id);
  const receipts = receiptsByMessage(sorted);
  const items = sorted.map((message) => messageItem(message, room, receipts.get(message.id)));
  for (const pending of client.pending().filter((p) => p.roomId === state.roomId)) {
    if (!sorted.some((m) => m.client_id === pending.clientId && m.sender.id === me().id)) {
      items.push(pendingItem(pending));
    }
  }
  for (const failed of composer.failed.filter((f) => f.roomId === state.roomId)) items.push(failedItem(failed));
  replaceChildren($("message-list"), items);
  $("older-button").hidden = !state.hasOlder;
  $("history-start").hidden = state.hasOlder || sorted.length === 0;
  if (keepOffsetFrom !== null) messagesBox.scrollTop = messagesBox.scrollHeight - keepOffsetFrom;
  else if (stickToBottom) messagesBox.scrollTop = messagesBox.scrollHeight;
}

/** "Seen by" lines: each reader under the newest shown message they have read. */
function receiptsByMessage(sorted) {
  const byMessage = new Map();
  const readers = state.readers.get(state.roomId);
  if (!readers || sorted.length === 0) return byMessage;
  for (const { user, messageId } of readers.values()) {
    let target = null;
    for (const message of sorted) if (message.id <= messageId) target = message.id;
    if (target === null) continue;
    if (!byMessage.has(target)) byMessage.set(target, []);
    byMessage.get(target).push(user.username);
  }
  return byMessage;
}

function messageItem(message, room, seenBy) {
  const mine = message.sender.id === me().id;
  const deletable = room?.is_member && (mine || canModerate(room));
  const preview = message.reply_preview;
  return h(
    "li",
    { className: `message${mine ? " mine" : ""}`, "data-id": message.id },
    h(
      "article",
      { "aria-label": `${message.sender.username}, ${new Date(message.created_at).toLocaleTimeString()}` },
      h(
        "header",
        { className: "message-head" },
        avatar(message.sender.username),
        h("span", { className: "sender" }, message.sender.username),
        timeElement(message.created_at),
      ),
      preview
        ? h(
            "blockquote",
            { className: "quote", dir: "auto" },
            h("span", { className: "quote-sender" }, `${preview.sender.username}: `),
            preview.content,
          )
        : null,
      h("p", { className: "content", dir: "auto" }, messageText(message.content, me().username)),
      room?.is_member
        ? h(
            "div",
            { className: "message-actions" },
            h("button", { type: "button", className: "ghost tiny", onclick: () => composer.replyTo(message) }, "Reply"),
            deletable ? deleteButton(message) : null,
          )
        : null,
      seenBy ? h("p", { className: "seen" }, `Seen by ${seenBy.join(", ")}`) : null,
    ),
  );
}

function deleteButton(message) {
  const button = h("button", { type: "button", className: "ghost tiny danger" });
  confirmButton(button, "Delete", "Confirm delete", async () => {
    try {
      await client.deleteMessage(message.id);
      removeMessage(message.room, message.id);
    } catch (error) {
      $("composer-error").textContent = describe(error);
    }
  });
  return button;
}

function pendingItem(pending) {
  return h(
    "li",
    { className: "message mine pending", "data-client-id": pending.clientId },
    h(
      "article",
      { "aria-label": "Your message, sending" },
      h("header", { className: "message-head" }, h("span", { className: "sender" }, me().username), h("span", {}, "Sending…")),
      h("p", { className: "content", dir: "auto" }, pending.content),
    ),
  );
}

function failedItem(failed) {
  return h(
    "li",
    { className: "message mine failed" },
    h(
      "article",
      { "aria-label": "Your message, not sent" },
      h("header", { className: "message-head" }, h("span", { className: "sender" }, me().username)),
      h("p", { className: "content", dir: "auto" }, failed.content),
      h(
        "p",
        { className: "error" },
        `Not sent: ${failed.reason} `,
        h("button", { type: "button", className: "ghost tiny", onclick: () => composer.dismiss(failed) }, "Dismiss"),
      ),
    ),
  );
}

$("older-button").addEventListener("click", loadOlder);

async function loadOlder() {
  const id = state.roomId;
  if (state.loadingOlder || !state.hasOlder || state.messages.size === 0) return;
  state.loadingOlder = true;
  try {
    const oldest = Math.min(...state.messages.keys());
    const page = await client.messages(id, { before: oldest, limit: PAGE });
    if (state.roomId !== id) return;
    const offset = messagesBox.scrollHeight - messagesBox.scrollTop;
    for (const message of page.results) state.messages.set(message.id, message);
    state.hasOlder = Boolean(page.next);
    renderMessages({ keepOffsetFrom: offset });
  } catch (error) {
    $("composer-error").textContent = describe(error);
  } finally {
    state.loadingOlder = false;
  }
}

// Scrolling to the top pages back, as in any chat.
new IntersectionObserver(
  (entries) => {
    if (entries.some((entry) => entry.isIntersecting) && messagesBox.scrollTop > 0) loadOlder();
  },
  { root: messagesBox },
).observe($("older-button"));

function addMessage(message) {
  const room = state.rooms.get(message.room);
  if (room) {
    const newest = room.last_message?.id ?? 0;
    if (message.id > newest) {
      room.last_message = message;
      const fromOther = message.sender.id !== me().id;
      const seeing = message.room === state.roomId && document.visibilityState === "visible";
      if (room.is_member && fromOther && !seeing) room.unread_count += 1;
    }
    renderRooms();
  } else {
    refreshRoom(message.room);
  }
  if (message.room !== state.roomId) return;
  const had = state.messages.has(message.id);
  state.messages.set(message.id, message);
  clearTyping(message.sender.id);
  if (!had) {
    renderMessages({ stickToBottom: atBottom() || message.sender.id === me().id });
    markRead();
  }
}

function removeMessage(roomId, messageId) {
  const room = state.rooms.get(roomId);
  if (room?.last_message?.id === messageId) refreshRoom(roomId);
  if (roomId !== state.roomId || !state.messages.delete(messageId)) return;
  renderMessages();
}

/** Moves the read pointer to the newest message shown, when the user can see it. */
const markRead = debounce(() => {
  const room = currentRoom();
  if (!room?.is_member || document.visibilityState !== "visible" || state.messages.size === 0) return;
  const newest = Math.max(...state.messages.keys());
  if (room.unread_count === 0 && (room.readUpTo ?? 0) >= newest) return;
  room.readUpTo = newest;
  room.unread_count = 0;
  renderRooms();
  if (!state.live?.markRead(room.id, newest)) client.markRead(newest).catch(() => {});
}, 250);

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") markRead();
});

// ---- composer -----------------------------------------------------------------

const composer = new Composer({
  client,
  send: (content, replyTo) => {
    const id = state.roomId;
    const sending = client.send(id, content, { replyTo: replyTo?.id });
    renderMessages({ stickToBottom: true });
    return sending.then(
      (message) => {
        addMessage(message);
        renderMessages();
      },
      (error) => {
        composer.fail(id, content, describe(error));
        renderMessages();
      },
    );
  },
  typing: (isTyping) => state.live?.typing(state.roomId, isTyping),
  render: () => renderMessages(),
});

// ---- typing and presence --------------------------------------------------------

function setTyping(user, isTyping) {
  clearTyping(user.id);
  if (isTyping) {
    const timer = setTimeout(() => clearTyping(user.id), TYPING_SHOWN_MS);
    state.typing.set(user.id, { user, timer });
  }
  renderTyping();
}

function clearTyping(userId) {
  const entry = state.typing.get(userId);
  if (!entry) return;
  clearTimeout(entry.timer);
  state.typing.delete(userId);
  renderTyping();
}

function renderTyping() {
  const names = [...state.typing.values()].map(({ user }) => user.username);
  $("typing").textContent =
    names.length === 0
      ? ""
      : names.length === 1
        ? `${names[0]} is typing…`
        : names.length <= 3
          ? `${names.join(", ")} are typing…`
          : "Several people are typing…";
}

function onlineSet(roomId) {
  if (!state.online.has(roomId)) state.online.set(roomId, new Set());
  return state.online.get(roomId);
}

// ---- members panel --------------------------------------------------------------

$("members-button").addEventListener("click", () => toggleMembers());
$("members-close").addEventListener("click", () => toggleMembers(false));

function toggleMembers(open = $("members-panel").hidden) {
  $("members-panel").hidden = !open;
  $("members-button").setAttribute("aria-expanded", String(open));
  document.body.classList.toggle("members-open", open);
  if (open) {
    loadMembers();
    $("members-close").focus();
  } else {
    $("members-button").focus();
  }
}

async function loadMembers() {
  const id = state.roomId;
  try {
    const members = await client.members(id);
    if (state.roomId !== id) return;
    state.members = members;
    const online = onlineSet(id);
    online.clear();
    for (const member of members) if (member.is_online) online.add(member.user.id);
    renderMembers();
  } catch (error) {
    $("add-member-error").textContent = describe(error);
  }
}

function renderMembers() {
  const room = currentRoom();
  const online = onlineSet(state.roomId);
  replaceChildren(
    $("member-list"),
    state.members.map((member) => memberItem(member, room, online.has(member.user.id))),
  );
}

const ROLE_RANK = { admin: 0, moderator: 1, member: 2 };

function memberItem(member, room, isOnline) {
  const { user, role } = member;
  const self = user.id === me().id;
  const isAdmin = room?.my_role === "admin";
  const mayRemove = !self && (isAdmin || (room?.my_role === "moderator" && role === "member"));
  return h(
    "li",
    { className: "member" },
    h("span", { className: `dot${isOnline ? " online" : ""}`, role: "img", "aria-label": isOnline ? "online" : "offline" }),
    h("span", { className: "member-name", dir: "auto" }, user.username, self ? " (you)" : ""),
    isAdmin && !self
      ? h(
          "select",
          { "aria-label": `Role of ${user.username}`, onchange: (event) => changeRole(user, event.target.value) },
          Object.keys(ROLE_RANK).map((option) => h("option", { value: option, selected: option === role }, option)),
        )
      : h("span", { className: `role role-${role}` }, role),
    mayRemove
      ? h(
          "button",
          {
            type: "button",
            className: "ghost tiny danger",
            "aria-label": `Remove ${user.username}`,
            onclick: () => removeMember(user),
          },
          "Remove",
        )
      : null,
  );
}

async function changeRole(user, role) {
  $("add-member-error").textContent = "";
  try {
    await client.setRole(state.roomId, user.id, role);
  } catch (error) {
    $("add-member-error").textContent = describe(error);
  }
  loadMembers();
}

async function removeMember(user) {
  $("add-member-error").textContent = "";
  try {
    await client.removeMember(state.roomId, user.id);
  } catch (error) {
    $("add-member-error").textContent = describe(error);
  }
  loadMembers();
}

$("add-member-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("add-member-input");
  $("add-member-error").textContent = "";
  try {
    await client.addMember(state.roomId, { username: input.value.trim() });
    input.value = "";
    loadMembers();
  } catch (error) {
    $("add-member-error").textContent = describe(error);
  }
});

// ---- notifications ----------------------------------------------------------------

async function loadNotifications() {
  try {
    const [page, unread] = await Promise.all([client.notifications(), client.notifications({ unreadOnly: true })]);
    state.notifications = page.results;
    state.unreadNotifications = unread.count;
    renderNotifications();
  } catch {
    // The badge stays as it was; the next reconnect loads them again.
  }
}

function renderNotifications() {
  const badge = $("notifications-badge");
  badge.hidden = state.unreadNotifications === 0;
  badge.textContent = String(state.unreadNotifications);
  $("notifications-button").setAttribute(
    "aria-label",
    state.unreadNotifications ? `Notifications, ${state.unreadNotifications} unread` : "Notifications",
  );
  replaceChildren($("notification-list"), state.notifications.map(notificationItem));
  $("notifications-empty").hidden = state.notifications.length > 0;
}

function notificationItem(notification) {
  return h(
    "li",
    { className: `notification${notification.is_read ? "" : " unread"}` },
    h(
      "button",
      { type: "button", className: "notification-open", onclick: () => openNotification(notification) },
      h("span", { className: "notification-title", dir: "auto" }, notification.title),
      h("span", { className: "notification-content", dir: "auto" }, notification.content),
      timeElement(notification.created_at),
    ),
    notification.is_read
      ? null
      : h(
          "button",
          { type: "button", className: "ghost tiny", onclick: () => readNotification(notification) },
          "Mark read",
        ),
  );
}

async function readNotification(notification) {
  if (notification.is_read) return;
  try {
    await client.readNotification(notification.id);
    notification.is_read = true;
    state.unreadNotifications = Math.max(0, state.unreadNotifications - 1);
    renderNotifications();
  } catch (error) {
    console.warn(error);
  }
}

function openNotification(notification) {
  readNotification(notification);
  if (notification.room) {
    toggleNotifications(false);
    if (!state.rooms.has(notification.room)) refreshRoom(notification.room);
    navigateTo(notification.room);
  }
}

$("notifications-button").addEventListener("click", () => toggleNotifications());
$("notifications-close").addEventListener("click", () => toggleNotifications(false));
$("notifications-read-all").addEventListener("click", async () => {
  await client.readAllNotifications();
  for (const notification of state.notifications) notification.is_read = true;
  state.unreadNotifications = 0;
  renderNotifications();
});

function toggleNotifications(open = $("notifications-panel").hidden) {
  $("notifications-panel").hidden = !open;
  $("notifications-button").setAttribute("aria-expanded", String(open));
  if (open) $("notifications-close").focus();
}

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  if (!$("notifications-panel").hidden) toggleNotifications(false);
  else if (!$("members-panel").hidden && !event.target.closest?.("#composer")) toggleMembers(false);
});

// ---- live frames --------------------------------------------------------------------

function connectLive() {
  const live = client.live();
  state.live = live;
  for (const room of state.rooms.values()) if (room.is_member) live.track(room.id, room.last_message?.id ?? 0);

  live.on("status", (status) => {
    const banner = $("connection-banner");
    banner.textContent = status === "open" ? "" : "You are offline. Reconnecting…";
    banner.classList.toggle("offline", status !== "open");
    if (status === "offline") state.wasOffline = true;
    if (status === "open" && state.wasOffline) {
      // The socket replays missed messages; counts and notifications come over REST.
      state.wasOffline = false;
      loadRooms().catch(() => {});
      loadNotifications();
      if (state.roomId && !$("members-panel").hidden) loadMembers();
    }
  });
  live.on("refused", () => client.me().then(enter, () => client.logout()));
  live.on("chat_message", ({ message }) => addMessage(message));
  live.on("message_deleted", ({ room, message_id }) => removeMessage(room, message_id));
  live.on("message_read", ({ room, message_id, user }) => {
    if (user.id === me().id) {
      const known = state.rooms.get(room);
      if (known && message_id >= (known.last_message?.id ?? 0)) known.unread_count = 0;
      renderRooms();
      return;
    }
    if (!state.readers.has(room)) state.readers.set(room, new Map());
    const readers = state.readers.get(room);
    // Receipts come on every read, also one that moves nothing: re-render
    // only for news (a re-render would drop an armed button under the pointer).
    if ((readers.get(user.id)?.messageId ?? 0) >= message_id) return;
    readers.set(user.id, { user, messageId: message_id });
    if (room === state.roomId) renderMessages();
  });
  live.on("typing", ({ room, user, is_typing }) => {
    if (room === state.roomId && user.id !== me().id) setTyping(user, is_typing);
  });
  live.on("user_joined", ({ room, user }) => presence(room, user, true));
  live.on("user_left", ({ room, user }) => presence(room, user, false));
  live.on("member_added", ({ room, user }) => membershipChanged(room, user));
  live.on("member_removed", ({ room, user }) => membershipChanged(room, user));
  live.on("notification", ({ notification }) => {
    state.notifications.unshift(notification);
    state.unreadNotifications += 1;
    renderNotifications();
  });
  live.on("room_deleted", ({ room }) => {
    state.rooms.delete(room);
    if (room === state.roomId) closeRoom("This room was deleted.");
    else renderRooms();
  });
  live.on("resync_required", ({ room }) => {
    refreshRoom(room);
    if (room === state.roomId) openRoom(room);
  });
}

function presence(roomId, user, isOnline) {
  const online = onlineSet(roomId);
  if (isOnline) online.add(user.id);
  else online.delete(user.id);
  if (roomId === state.roomId && !$("members-panel").hidden) renderMembers();
  if (!isOnline) clearTyping(user.id);
}

function membershipChanged(roomId, user) {
  // refreshRoom also closes the view when we lost access to the open room.
  refreshRoom(roomId);
  if (roomId === state.roomId && !$("members-panel").hidden) loadMembers();
}

boot();

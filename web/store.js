// The web client's state and everything that changes it: REST loads, live
// frames, sends, drafts. Views read `state` and call these functions; after
// each change `changed()` asks the app to render again (Preact then updates
// only the DOM that differs, keyed by message and room ids). No DOM here.

import { ApiError, ConfabClient, NetworkError } from "./confab-client.js";

export const client = new ConfabClient({ storage: globalThis.localStorage });
export const PAGE = 50;
const TYPING_SHOWN_MS = 6000;
const DRAFTS_KEY = "confab.drafts";

export const state = {
  screen: "loading", // "loading" | "login" | "no-access" | "chat"
  bootError: "",
  rooms: new Map(), // id -> room object from the API, kept current by live frames
  roomId: null, // the open room
  view: null, // the open room's messages: see openRoom
  placeholder: "Pick a room on the left, or create one.",
  readers: new Map(), // roomId -> Map(userId -> {user, messageId}) from message_read frames
  online: new Map(), // roomId -> Set(userId), from members lists and presence frames
  typing: new Map(), // userId -> {user, timer}, in the open room
  members: new Map(), // roomId -> members list (for the panel and @mention suggestions)
  membersError: "",
  panel: null, // "members" | "notifications" | null
  notifications: [],
  unreadNotifications: 0,
  connection: "connecting", // the user socket: "connecting" | "open" | "offline"
  failed: [], // sends the server refused: {roomId, clientId, content, reason}
  drafts: loadDrafts(), // roomId -> unsent text
  uploads: new Map(), // roomId -> files being attached in its composer (see uploadFiles)
  reply: null, // the reply being written: {roomId, message}
  confirmation: null, // the open confirmation dialog: {title, body, action, run, resolve}
  editing: null, // the id of the message being edited in place
  search: null, // the open search: {query, results, count, loading, error}
  jumpTo: null, // a message id the open room should scroll to and focus
  live: null,
};

let render = () => {};
let renderQueued = false;

/** The app's renderer, called (once per task) after changes. */
export function onChange(callback) {
  render = callback;
}

export function changed() {
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(() => {
    renderQueued = false;
    render();
  });
}

export const me = () => client.user;
export const currentRoom = () => state.rooms.get(state.roomId) ?? null;
export const canModerate = (room) => room?.my_role === "admin" || room?.my_role === "moderator";

/** One line for an error, saying plainly when the server is out of reach. */
export function describe(error) {
  if (error instanceof NetworkError) return "The server cannot be reached. Check your connection.";
  return error?.message ?? String(error);
}

// ---- session ------------------------------------------------------------------

export async function boot() {
  client.on("logout", () => {
    state.live = null;
    state.roomId = null;
    state.view = null;
    state.rooms = new Map();
    state.readers.clear();
    state.online.clear();
    state.members.clear();
    state.failed = [];
    state.reply = null;
    state.editing = null;
    state.search = null;
    state.drafts = new Map();
    state.uploads = new Map();
    state.panel = null;
    localStorage.removeItem(DRAFTS_KEY);
    state.screen = "login";
    changed();
  });
  client.on("outbox", changed);
  client.on("sent", ({ message }) => addMessage(message));
  client.on("send_failed", ({ roomId, clientId, content, error }) => {
    state.failed.push({ roomId, clientId, content, reason: describe(error) });
    changed();
  });
  // A server that is down at load time is waited for, not mistaken for a
  // logged-out user: the stored session (and outbox) is kept.
  for (let attempt = 0; ; attempt++) {
    try {
      if (await client.restore()) return enter();
      break;
    } catch (error) {
      state.bootError = `${describe(error)} Retrying…`;
      changed();
      await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 1000 * 2 ** Math.min(attempt, 3))));
    }
  }
  state.bootError = "";
  state.screen = "login";
  changed();
}

export async function login(username, password) {
  await client.login(username, password);
  await enter();
}

export function logout() {
  client.logout();
}

async function enter() {
  state.bootError = "";
  if (!me().is_developer) {
    state.screen = "no-access";
    changed();
    return;
  }
  state.screen = "chat";
  changed();
  try {
    await loadRooms();
  } catch (error) {
    state.placeholder = describe(error);
  }
  loadNotifications();
  connectLive();
  client.resumeOutbox();
  openFromLocation();
}

// ---- rooms --------------------------------------------------------------------

export async function loadRooms() {
  const rooms = await client.allRooms();
  // Rooms found by a search stay until the next full load.
  state.rooms = new Map(rooms.map((room) => [room.id, room]));
  for (const room of rooms) if (room.is_member) track(room);
  changed();
}

/** Tells the live connection how far a room is known, so a resume starts there. */
function track(room) {
  state.live?.track(room.id, room.last_message?.id ?? 0, room.change_seq);
}

/** A room's name as people see it: the other person, for a direct conversation. */
export const roomTitle = (room) => (room.is_direct && room.peer ? room.peer.username : room.name);

/** Reloads one room; a 404 means it is gone (deleted, or we lost access). */
export async function refreshRoom(id) {
  try {
    const room = await client.room(id);
    state.rooms.set(id, room);
    if (room.is_member) track(room);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) return;
    state.rooms.delete(id);
    if (state.roomId === id) closeRoom("This room is no longer available.");
  }
  changed();
}

/** Public rooms the server finds by name, added to what is known. */
export async function searchRooms(text) {
  try {
    for (const room of await client.allRooms(text)) if (!state.rooms.has(room.id)) state.rooms.set(room.id, room);
    changed();
  } catch {
    // The local filter still shows what is known.
  }
}

export async function createRoom(fields) {
  const room = await client.createRoom(fields);
  state.rooms.set(room.id, room);
  track(room);
  changed();
  navigateTo(room.id);
}

/** Opens (creating on first use) the direct conversation with `user`. */
export async function openDirect(user) {
  const room = await client.openDirect({ userId: user.id });
  state.rooms.set(room.id, room);
  track(room);
  changed();
  navigateTo(room.id);
}

export async function updateRoom(id, fields) {
  const room = await client.updateRoom(id, fields);
  state.rooms.set(id, room);
  changed();
}

export async function joinRoom(id) {
  const { room } = await client.joinRoom(id);
  state.rooms.set(id, room);
  track(room);
  loadMembers(id);
  changed();
}

export async function leaveRoom(id) {
  await client.leaveRoom(id);
  state.live?.forget(id);
  navigateTo(null);
  await refreshRoom(id);
}

export async function deleteRoom(id) {
  await client.deleteRoom(id);
  state.rooms.delete(id);
  if (state.roomId === id) closeRoom("This room was deleted.");
  changed();
}

export function totalUnread() {
  let total = 0;
  for (const room of state.rooms.values()) if (room.is_member) total += room.unread_count;
  return total;
}

// ---- navigation ---------------------------------------------------------------

export function navigateTo(roomId) {
  location.hash = roomId ? `#/rooms/${roomId}` : "#/";
}

export function openFromLocation() {
  if (state.screen !== "chat") return;
  const match = /^#\/rooms\/(\d+)$/.exec(location.hash);
  const id = match ? Number(match[1]) : null;
  if (id && id !== state.roomId) openRoom(id);
  else if (!id && state.roomId) closeRoom();
}

globalThis.addEventListener?.("hashchange", openFromLocation);

// ---- the open room ------------------------------------------------------------

/**
 * Opens a room: its newest page of history, with `firstUnread` the first
 * message from someone else the user has not read (the "New messages"
 * divider stays there while the room is open).
 */
export async function openRoom(id) {
  state.roomId = id;
  state.view = {
    roomId: id,
    messages: new Map(),
    loaded: false,
    error: "",
    hasOlder: false,
    loadingOlder: false,
    firstUnread: null,
    scrollTo: null, // "unread" | "bottom" | "keep": what the list does after its next render
  };
  state.typing.clear();
  if (!state.rooms.has(id)) await refreshRoom(id);
  if (state.roomId !== id) return;
  if (!state.rooms.has(id)) return closeRoom("This room is no longer available.");
  if (state.panel === "members" || currentRoom()?.is_member) loadMembers(id);
  changed();
  await loadNewest(id);
}

async function loadNewest(id) {
  const view = state.view;
  try {
    const page = await client.messages(id, { limit: PAGE });
    if (state.view !== view) return;
    for (const message of page.results) view.messages.set(message.id, message);
    view.hasOlder = Boolean(page.next);
    view.loaded = true;
    view.error = "";
    const room = state.rooms.get(id);
    if (room?.is_member && room.unread_count > 0) {
      view.firstUnread = page.results.find((m) => !m.is_read && m.sender.id !== me().id)?.id ?? null;
    }
    view.scrollTo = view.firstUnread ? "unread" : "bottom";
  } catch (error) {
    if (state.view === view) view.error = describe(error);
  }
  changed();
}

/** After a reconnect: what the open room missed (or all of it, if it never loaded). */
async function catchUpOpenRoom() {
  const view = state.view;
  if (!view) return;
  if (!view.loaded) return loadNewest(view.roomId);
  try {
    for (;;) {
      const newest = Math.max(0, ...view.messages.keys());
      const page = await client.messages(view.roomId, { after: newest, limit: 200 });
      if (state.view !== view) return;
      for (const message of page.results) addMessage(message);
      if (!page.previous || page.results.length === 0) break;
    }
    view.error = "";
  } catch (error) {
    if (state.view === view) view.error = describe(error);
  }
  changed();
}

export async function loadOlder() {
  const view = state.view;
  if (!view || view.loadingOlder || !view.hasOlder || view.messages.size === 0) return;
  view.loadingOlder = true;
  try {
    const oldest = Math.min(...view.messages.keys());
    const page = await client.messages(view.roomId, { before: oldest, limit: PAGE });
    if (state.view !== view) return;
    for (const message of page.results) view.messages.set(message.id, message);
    view.hasOlder = Boolean(page.next);
    view.scrollTo = "keep";
  } catch (error) {
    view.error = describe(error);
  } finally {
    view.loadingOlder = false;
    changed();
  }
}

export function closeRoom(notice) {
  state.roomId = null;
  state.view = null;
  state.typing.clear();
  if (state.panel === "members") state.panel = null;
  state.placeholder = notice ?? "Pick a room on the left, or create one.";
  if (location.hash !== "#/" && location.hash !== "") history.replaceState(null, "", "#/");
  changed();
}

/** A stored message, from a frame, a send or a catch-up; counted once however often it comes. */
export function addMessage(message) {
  // A replay (`?since=`) shows a message deleted since as an empty one; its deletion follows.
  if (message.is_deleted) return;
  const room = state.rooms.get(message.room);
  if (room) {
    if (message.id > (room.last_message?.id ?? 0)) {
      room.last_message = message;
      const fromOther = message.sender.id !== me().id;
      const known = state.view?.roomId === message.room && state.view.messages.has(message.id);
      if (room.is_member && fromOther && !known && message.id > (room.readUpTo ?? 0)) room.unread_count += 1;
    }
  } else {
    refreshRoom(message.room);
  }
  const view = state.view;
  if (view?.roomId === message.room) {
    view.messages.set(message.id, message);
    clearTyping(message.sender.id);
  }
  changed();
}

/** A message changed (edited, reacted to): the new object replaces the old where shown. */
function replaceMessage(message) {
  const view = state.view;
  if (view?.roomId === message.room && view.messages.has(message.id)) view.messages.set(message.id, message);
  const room = state.rooms.get(message.room);
  if (room?.last_message?.id === message.id) room.last_message = message;
  changed();
}

/** A reaction frame: the message's `reactions` as the server now has them. */
function applyReaction(roomId, { message_id, emoji, user }, added) {
  const message = state.view?.roomId === roomId ? state.view.messages.get(message_id) : null;
  if (!message) return;
  const reactions = message.reactions.map((r) => ({ ...r, users: [...r.users] }));
  let entry = reactions.find((r) => r.emoji === emoji);
  const has = entry?.users.some((u) => u.id === user.id);
  if (added && !has) {
    if (!entry) reactions.push((entry = { emoji, count: 0, users: [] }));
    entry.users.push(user);
    entry.count = entry.users.length;
  } else if (!added && has) {
    entry.users = entry.users.filter((u) => u.id !== user.id);
    entry.count = entry.users.length;
  }
  replaceMessage({ ...message, reactions: reactions.filter((r) => r.count > 0) });
}

export async function editMessage(message, content) {
  const edited = await client.editMessage(message.id, content);
  state.editing = null;
  replaceMessage(edited);
}

export function startEditing(messageId) {
  state.editing = messageId;
  changed();
}

export function stopEditing() {
  state.editing = null;
  changed();
}

/** Adds the user's reaction, or takes it back when they already have it. */
export async function toggleReaction(message, emoji) {
  const mine = message.reactions.find((r) => r.emoji === emoji)?.users.some((u) => u.id === me().id);
  if (mine) await client.unreact(message.id, emoji);
  else await client.react(message.id, emoji);
}

// ---- search -------------------------------------------------------------------

export async function searchMessages(query) {
  const text = query.trim();
  if (!text) {
    state.search = null;
    return changed();
  }
  const search = { query: text, results: [], count: 0, loading: true, error: "" };
  state.search = search;
  changed();
  try {
    const page = await client.search(text, { pageSize: 30 });
    search.results = page.results;
    search.count = page.count;
  } catch (error) {
    search.error = describe(error);
  }
  search.loading = false;
  changed();
}

export function closeSearch() {
  state.search = null;
  changed();
}

/** Opens a search result: its room, scrolled to it (older pages are loaded until it shows). */
export async function openResult(message) {
  state.search = null;
  state.jumpTo = message.id;
  if (state.roomId !== message.room) {
    navigateTo(message.room);
    await openRoom(message.room);
  }
  const view = state.view;
  for (let pages = 0; view && !view.messages.has(message.id) && view.hasOlder && pages < 20; pages++) {
    await loadOlder();
  }
  changed();
}

function removeMessage(roomId, messageId) {
  const room = state.rooms.get(roomId);
  if (room?.last_message?.id === messageId) refreshRoom(roomId);
  if (state.view?.roomId === roomId) state.view.messages.delete(messageId);
  changed();
}

export async function deleteMessage(message) {
  await client.deleteMessage(message.id);
  removeMessage(message.room, message.id);
}

/**
 * The user has seen `messageId` (it was on screen while the page was
 * visible): the read pointer moves there, and mention or reply
 * notifications about messages up to it are read too.
 */
export function seen(messageId) {
  const room = currentRoom();
  const view = state.view;
  if (!room?.is_member || !view || document.visibilityState !== "visible") return;
  if (messageId <= (room.readUpTo ?? 0)) return;
  room.readUpTo = messageId;
  room.unread_count = [...view.messages.values()].filter(
    (m) => m.id > messageId && m.sender.id !== me().id,
  ).length;
  for (const notification of state.notifications) {
    if (!notification.is_read && notification.room === room.id && notification.message && notification.message <= messageId) {
      readNotification(notification);
    }
  }
  sendReadPointer(room.id);
  changed();
}

// One read pointer per quarter second at most, the newest.
const readTimers = new Map();
function sendReadPointer(roomId) {
  if (readTimers.has(roomId)) return;
  readTimers.set(
    roomId,
    setTimeout(() => {
      readTimers.delete(roomId);
      const upTo = state.rooms.get(roomId)?.readUpTo;
      if (upTo && !state.live?.markRead(roomId, upTo)) client.markRead(upTo).catch(() => {});
    }, 250),
  );
}

// ---- sending ------------------------------------------------------------------

/** Sends a message with the room's finished uploads; it shows as pending
 * (from the client's outbox) until stored. */
export function send(roomId, content, replyTo) {
  if (state.view?.roomId === roomId) state.view.scrollTo = "bottom";
  const files = uploadsOf(roomId)
    .filter((upload) => upload.file)
    .map((upload) => upload.file);
  for (const file of files) filesSending.set(file.id, file);
  state.uploads.delete(roomId);
  client
    .send(roomId, content, { replyTo: replyTo?.id, attachments: files.map((file) => file.id) })
    .catch(() => {})
    .finally(() => files.forEach((file) => filesSending.delete(file.id)));
}

/** The files of messages still sending, by id, so a pending message can
 * name them (the client's outbox keeps only their ids). */
const filesSending = new Map();

/** A file being sent with a pending message; undefined after a reload. */
export const fileSending = (id) => filesSending.get(id);

// ---- uploads --------------------------------------------------------------------

let uploadKeys = 0;

/** The open composer's uploads in a room: `{key, name, size, sent, file?, error?, abort}`. */
export function uploadsOf(roomId) {
  return state.uploads.get(roomId) ?? [];
}

/** Uploads files picked, dropped or pasted into a room's composer, each with its progress. */
export function uploadFiles(roomId, files) {
  for (const file of files) {
    const controller = new AbortController();
    const upload = { key: ++uploadKeys, name: file.name || "pasted-file", size: file.size, sent: 0, abort: controller };
    state.uploads.set(roomId, [...uploadsOf(roomId), upload]);
    changed();
    const update = (fields) => {
      state.uploads.set(
        roomId,
        uploadsOf(roomId).map((u) => (u.key === upload.key ? { ...u, ...fields } : u)),
      );
      changed();
    };
    client
      .uploadFile(roomId, file, { onProgress: (sent) => update({ sent }), signal: controller.signal })
      .then((stored) => update({ file: stored, sent: upload.size }))
      .catch((error) => {
        if (!uploadsOf(roomId).some((u) => u.key === upload.key)) return; // removed meanwhile
        update({ error: describe(error) });
      });
  }
}

/** Takes an upload out of the composer (cancelling it if it is still going). */
export function removeUpload(roomId, key) {
  uploadsOf(roomId)
    .find((u) => u.key === key)
    ?.abort.abort();
  state.uploads.set(
    roomId,
    uploadsOf(roomId).filter((u) => u.key !== key),
  );
  changed();
}

export function dismissFailed(failed) {
  state.failed = state.failed.filter((entry) => entry !== failed);
  changed();
}

function loadDrafts() {
  try {
    return new Map(Object.entries(JSON.parse(localStorage.getItem(DRAFTS_KEY) ?? "{}")).map(([k, v]) => [Number(k), v]));
  } catch {
    return new Map();
  }
}

/** Keeps what is typed in a room's composer, across room switches and reloads. */
export function saveDraft(roomId, text) {
  if (text) state.drafts.set(roomId, text);
  else state.drafts.delete(roomId);
  try {
    localStorage.setItem(DRAFTS_KEY, JSON.stringify(Object.fromEntries(state.drafts)));
  } catch {
    // Storage full or disabled: the draft lives as long as the page.
  }
}

// ---- typing and presence ------------------------------------------------------

function setTyping(user, isTyping) {
  clearTyping(user.id);
  if (isTyping) {
    const timer = setTimeout(() => clearTyping(user.id), TYPING_SHOWN_MS);
    state.typing.set(user.id, { user, timer });
  }
  changed();
}

function clearTyping(userId) {
  const entry = state.typing.get(userId);
  if (!entry) return;
  clearTimeout(entry.timer);
  state.typing.delete(userId);
  changed();
}

export function onlineSet(roomId) {
  if (!state.online.has(roomId)) state.online.set(roomId, new Set());
  return state.online.get(roomId);
}

function presence(roomId, user, isOnline) {
  const online = onlineSet(roomId);
  if (isOnline) online.add(user.id);
  else {
    online.delete(user.id);
    if (roomId === state.roomId) clearTyping(user.id);
  }
  changed();
}

// ---- members ------------------------------------------------------------------

export async function loadMembers(id = state.roomId) {
  try {
    const members = await client.members(id);
    state.members.set(id, members);
    const online = onlineSet(id);
    online.clear();
    for (const member of members) if (member.is_online) online.add(member.user.id);
    state.membersError = "";
  } catch (error) {
    if (id === state.roomId) state.membersError = describe(error);
  }
  changed();
}

async function memberAction(action) {
  state.membersError = "";
  const id = state.roomId;
  try {
    await action(id);
  } catch (error) {
    state.membersError = describe(error);
  }
  await loadMembers(id);
}

export const addMember = (username) => memberAction((id) => client.addMember(id, { username }));
export const setRole = (user, role) => memberAction((id) => client.setRole(id, user.id, role));
export const removeMember = (user) => memberAction((id) => client.removeMember(id, user.id));

// ---- notifications ------------------------------------------------------------

export async function loadNotifications() {
  try {
    // The unread count first, then the list: a notification the socket
    // brings while these load is then either in both or in neither, and one
    // in neither is kept (not overwritten by the older list) and counted.
    const unread = await client.notifications({ unreadOnly: true });
    const page = await client.notifications();
    const newest = page.results[0]?.id ?? 0; // the list is newest first
    const arrived = state.notifications.filter((n) => n.id > newest);
    state.notifications = [...arrived, ...page.results];
    state.unreadNotifications = unread.count + arrived.filter((n) => !n.is_read).length;
    changed();
  } catch {
    // The badge stays as it was; the next reconnect loads them again.
  }
}

export async function readNotification(notification) {
  if (notification.is_read) return;
  notification.is_read = true;
  state.unreadNotifications = Math.max(0, state.unreadNotifications - 1);
  changed();
  try {
    await client.readNotification(notification.id);
  } catch {
    // Shown as read here; the next load says what the server has.
  }
}

export async function readAllNotifications() {
  await client.readAllNotifications();
  for (const notification of state.notifications) notification.is_read = true;
  state.unreadNotifications = 0;
  changed();
}

/**
 * A desktop notification for a mention or reply while the page is hidden
 * (permission is asked for only when the user presses the button for it).
 */
function notifyDesktop(notification) {
  if (!["mention", "reply"].includes(notification.notification_type)) return;
  if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
  if (document.visibilityState === "visible") return;
  let shown;
  try {
    shown = new Notification(notification.title, { body: notification.content, tag: `confab-${notification.id}` });
  } catch {
    return; // some mobile browsers only notify through a service worker
  }
  shown.onclick = () => {
    globalThis.focus();
    if (notification.room) navigateTo(notification.room);
    shown.close();
  };
}

// ---- panels and confirmations -------------------------------------------------

export function togglePanel(name, open = state.panel !== name) {
  state.panel = open ? name : state.panel === name ? null : state.panel;
  if (open && name === "members") loadMembers();
  changed();
}

/**
 * Asks before a destructive action, in a modal `alertdialog` outside the
 * live message list (so no frame can disarm it). Resolves true when the
 * action ran, false when the user cancelled; errors from `run` are shown in
 * the dialog.
 */
export function confirm({ title, body, action, run }) {
  return new Promise((resolve) => {
    state.confirmation = { title, body, action, run, resolve, error: "", busy: false };
    changed();
  });
}

export async function settleConfirmation(accepted) {
  const confirmation = state.confirmation;
  if (!confirmation || confirmation.busy) return;
  if (!accepted) {
    state.confirmation = null;
    confirmation.resolve(false);
    return changed();
  }
  confirmation.busy = true;
  changed();
  try {
    await confirmation.run();
    state.confirmation = null;
    confirmation.resolve(true);
  } catch (error) {
    confirmation.error = describe(error);
    confirmation.busy = false;
  }
  changed();
}

// ---- live frames --------------------------------------------------------------

function connectLive() {
  const live = client.live();
  if (state.live === live) return; // already listening (enter() again without a logout)
  state.live = live;
  for (const room of state.rooms.values()) if (room.is_member) track(room);
  let wasOffline = false;

  live.on("status", (status) => {
    state.connection = status;
    if (status === "offline") wasOffline = true;
    if (status === "open" && wasOffline) {
      // The socket replays missed messages of member rooms; the rest comes over REST.
      wasOffline = false;
      if (state.view?.error) state.view.error = "";
      loadRooms().catch(() => {});
      loadNotifications();
      catchUpOpenRoom();
      if (state.roomId && state.members.has(state.roomId)) loadMembers();
    }
    changed();
  });
  live.on("refused", () => client.me().then(enter, () => client.logout()));
  live.on("chat_message", ({ message }) => addMessage(message));
  live.on("message_deleted", ({ room, message_id }) => removeMessage(room, message_id));
  live.on("message_edited", ({ message }) => replaceMessage(message));
  live.on("reaction_added", (frame) => applyReaction(frame.room, frame, true));
  live.on("reaction_removed", (frame) => applyReaction(frame.room, frame, false));
  live.on("message_read", ({ room, message_id, user }) => {
    if (user.id === me().id) {
      const known = state.rooms.get(room);
      if (known && message_id >= (known.last_message?.id ?? 0)) known.unread_count = 0;
      if (known) known.readUpTo = Math.max(known.readUpTo ?? 0, message_id);
      return changed();
    }
    if (!state.readers.has(room)) state.readers.set(room, new Map());
    const readers = state.readers.get(room);
    if ((readers.get(user.id)?.messageId ?? 0) >= message_id) return;
    readers.set(user.id, { user, messageId: message_id });
    changed();
  });
  live.on("typing", ({ room, user, is_typing }) => {
    if (room === state.roomId && user.id !== me().id) setTyping(user, is_typing);
  });
  live.on("user_joined", ({ room, user }) => presence(room, user, true));
  live.on("user_left", ({ room, user }) => presence(room, user, false));
  live.on("member_added", ({ room }) => membershipChanged(room));
  live.on("member_removed", ({ room }) => membershipChanged(room));
  live.on("notification", ({ notification }) => {
    state.notifications.unshift(notification);
    state.unreadNotifications += 1;
    notifyDesktop(notification);
    changed();
  });
  live.on("room_deleted", ({ room }) => {
    state.rooms.delete(room);
    if (room === state.roomId) closeRoom("This room was deleted.");
    changed();
  });
  live.on("resync_required", ({ room }) => {
    refreshRoom(room);
    if (room === state.roomId) openRoom(room);
  });
}

function membershipChanged(roomId) {
  // refreshRoom also closes the view when we lost access to the open room.
  refreshRoom(roomId);
  if (state.members.has(roomId)) loadMembers(roomId);
}

document.addEventListener("visibilitychange", changed);

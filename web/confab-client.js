// confab-client.js: the Confab (and original Django chat) API and WebSocket
// client, as one standard JS module with no DOM dependency. It runs in
// browsers, React apps and workers, and in Node 22+ (Node 20: pass a
// WebSocket implementation). The reference is docs/api.md; "Using the JS
// client" there shows it in a React app.
//
//   import { ConfabClient } from "/confab-client.js";
//   const client = new ConfabClient({ storage: localStorage });
//   await client.login("alice", "secret");      // or: await client.restore()
//   const live = client.live();                 // one socket for every room
//   live.on("chat_message", ({ room, message }) => ...);
//   await client.send(roomId, "hello @bob");    // retried with one client_id
//
// What it takes care of:
// - tokens: obtains them, refreshes the access token before it expires and
//   once more on a 401, keeps the refresh token in `storage` if given;
// - REST: one method per endpoint, errors thrown as ApiError with DRF's body;
// - live frames: one user socket (`/ws/chat/`) that reconnects with backoff
//   and resumes every room from the last message it saw (`?after=`), so
//   nothing is missed or repeated across drops and server restarts;
// - sends: each message gets a client_id and is retried with the same one
//   until the server answers, so a retry never posts twice. With `storage`
//   the outbox outlives the page: `resumeOutbox()` after a reload sends what
//   was still on its way, with the same client_ids.

const REFRESH_KEY = "confab.refresh";
const OUTBOX_KEY = "confab.outbox";

/** An HTTP error answer: `status` and DRF's JSON `body` (`{detail}` or field lists). */
export class ApiError extends Error {
  constructor(status, body) {
    super(ApiError.describe(status, body));
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }

  /** One readable line from a DRF error body. */
  static describe(status, body) {
    if (body && typeof body === "object") {
      if (typeof body.detail === "string") return body.detail;
      const parts = Object.entries(body).map(([field, errors]) => {
        const text = Array.isArray(errors) ? errors.join(" ") : String(errors);
        return field === "non_field_errors" ? text : `${field}: ${text}`;
      });
      if (parts.length) return parts.join(" ");
    }
    return `Request failed (${status})`;
  }
}

/** The network failed (server down, offline): the request may be retried. */
export class NetworkError extends Error {
  constructor(cause) {
    super("The server cannot be reached.");
    this.name = "NetworkError";
    this.cause = cause;
  }
}

/** A tiny event emitter; handlers get one argument, `on` returns an unsubscribe function. */
class Emitter {
  #handlers = new Map();

  on(type, handler) {
    if (!this.#handlers.has(type)) this.#handlers.set(type, new Set());
    this.#handlers.get(type).add(handler);
    return () => this.#handlers.get(type)?.delete(handler);
  }

  emit(type, value) {
    for (const handler of this.#handlers.get(type) ?? []) {
      try {
        handler(value);
      } catch (error) {
        console.error(`confab: a "${type}" handler failed`, error);
      }
    }
  }
}

/** The payload of a JWT, without checking it (the server does that). */
function jwtPayload(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}

function newClientId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `c${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export class ConfabClient extends Emitter {
  /**
   * @param {object} [options]
   * @param {string} [options.baseUrl] server origin, e.g. "https://chat.example.com"; default: this page's.
   * @param {Storage} [options.storage] where the refresh token survives reloads (localStorage); none by default.
   * @param {typeof fetch} [options.fetch]
   * @param {typeof WebSocket} [options.WebSocket]
   * @param {number} [options.refreshMarginSeconds] refresh the access token this long before it expires.
   */
  constructor(options = {}) {
    super();
    this.baseUrl = (options.baseUrl ?? globalThis.location?.origin ?? "").replace(/\/$/, "");
    this.storage = options.storage ?? null;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.refreshMarginSeconds = options.refreshMarginSeconds ?? 30;
    this.access = null;
    this.refresh = this.storage?.getItem(REFRESH_KEY) ?? null;
    this.user = null;
    this.#outbox = new Map();
  }

  #refreshTimer = null;
  #refreshing = null;
  #outbox;
  #live = null;

  // ---- session -------------------------------------------------------------

  get loggedIn() {
    return this.refresh !== null;
  }

  /** Obtains tokens (`POST /api/token/`) and loads `me()`. Throws ApiError (401) on bad credentials. */
  async login(username, password) {
    const tokens = await this.#call("POST", "/api/token/", { username, password }, { auth: false });
    this.#setTokens(tokens);
    return this.me();
  }

  /** Picks up a stored session: true when the stored refresh token still works. */
  async restore() {
    if (!this.refresh) return false;
    try {
      await this.#refreshAccess();
      await this.me();
      return true;
    } catch (error) {
      if (error instanceof NetworkError) throw error;
      this.logout({ revoke: false });
      return false;
    }
  }

  /**
   * Forgets the tokens and closes the socket; emits "logout". The refresh
   * token is blacklisted on the server first (`POST /api/token/blacklist/`),
   * so a copy of it left behind is worthless; `{ revoke: false }` skips that
   * when the server already refused the token.
   */
  logout({ revoke = true } = {}) {
    if (revoke && this.refresh) {
      this.#call("POST", "/api/token/blacklist/", { refresh: this.refresh }, { auth: false }).catch(() => {});
    }
    clearTimeout(this.#refreshTimer);
    this.access = null;
    this.refresh = null;
    this.user = null;
    this.storage?.removeItem(REFRESH_KEY);
    this.storage?.removeItem(OUTBOX_KEY);
    this.#live?.close();
    this.#live = null;
    for (const entry of this.#outbox.values()) entry.reject(new Error("Logged out."));
    this.#outbox.clear();
    this.emit("logout");
  }

  /** A valid access token, refreshed first when it is about to expire. */
  async accessToken() {
    const { exp = 0, iat = 0 } = this.access ? jwtPayload(this.access) : {};
    if (exp - Date.now() / 1000 < this.#margin(exp, iat)) await this.#refreshAccess();
    return this.access;
  }

  /** How early to refresh: the configured margin, but at most a third of the token's life. */
  #margin(exp, iat) {
    return iat ? Math.min(this.refreshMarginSeconds, (exp - iat) / 3) : this.refreshMarginSeconds;
  }

  #setTokens({ access, refresh }) {
    this.access = access;
    if (refresh) {
      this.refresh = refresh;
      this.storage?.setItem(REFRESH_KEY, refresh);
    }
    clearTimeout(this.#refreshTimer);
    const { exp, iat } = jwtPayload(access);
    if (exp) {
      const delay = Math.max(1, exp - Date.now() / 1000 - this.#margin(exp, iat)) * 1000;
      this.#refreshTimer = setTimeout(() => this.#refreshAccess().catch(() => {}), Math.min(delay, 2 ** 31 - 1));
    }
  }

  /** One refresh at a time, however many requests ask for it. */
  #refreshAccess() {
    if (!this.refresh) return Promise.reject(new ApiError(401, { detail: "Not logged in." }));
    this.#refreshing ??= this.#call("POST", "/api/token/refresh/", { refresh: this.refresh }, { auth: false })
      .then((tokens) => this.#setTokens(tokens))
      .catch((error) => {
        // An expired or revoked session ends here; a network error may pass.
        if (error instanceof ApiError && error.status === 401) this.logout({ revoke: false });
        throw error;
      })
      .finally(() => {
        this.#refreshing = null;
      });
    return this.#refreshing;
  }

  // ---- REST ----------------------------------------------------------------

  /** Any API call: JSON in and out; a 401 refreshes the token once and retries. */
  async request(method, path, body) {
    try {
      return await this.#call(method, path, body);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401 || !this.refresh) throw error;
      await this.#refreshAccess();
      return this.#call(method, path, body);
    }
  }

  async #call(method, path, body, { auth = true } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth) headers.Authorization = `Bearer ${await this.accessToken()}`;
    let response;
    try {
      response = await this.fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new NetworkError(error);
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { detail: text };
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  async me() {
    this.user = await this.request("GET", "/api/auth/me/");
    return this.user;
  }

  /** Developers whose username starts with `search` (for invites and @mentions). */
  users(search = "", page) {
    return this.request("GET", `/api/chat/users/${query({ search, page })}`);
  }

  /** `isDirect`: `true` for direct conversations only, `false` for the other rooms. */
  rooms({ search, page, pageSize, isDirect } = {}) {
    return this.request("GET", `/api/chat/rooms/${query({ search, page, page_size: pageSize, is_direct: isDirect })}`);
  }

  /** Every page of `rooms()`, concatenated. */
  async allRooms(search) {
    const rooms = [];
    for (let page = 1; ; page++) {
      const batch = await this.rooms({ search, page, pageSize: 200 });
      rooms.push(...batch.results);
      if (!batch.next) return rooms;
    }
  }

  room(id) {
    return this.request("GET", `/api/chat/rooms/${id}/`);
  }

  /** `{name, description?, room_type?: "public" | "private" | "group"}` */
  createRoom(fields) {
    return this.request("POST", "/api/chat/rooms/", fields);
  }

  updateRoom(id, fields) {
    return this.request("PATCH", `/api/chat/rooms/${id}/`, fields);
  }

  deleteRoom(id) {
    return this.request("DELETE", `/api/chat/rooms/${id}/`);
  }

  /** The direct conversation with another developer (`{userId}` or `{username}`), made on first use. */
  openDirect({ userId, username }) {
    return this.request("POST", "/api/chat/direct/", userId ? { user_id: userId } : { username });
  }

  joinRoom(id) {
    return this.request("POST", `/api/chat/rooms/${id}/join/`);
  }

  leaveRoom(id) {
    return this.request("POST", `/api/chat/rooms/${id}/leave/`);
  }

  members(roomId) {
    return this.request("GET", `/api/chat/rooms/${roomId}/members/`);
  }

  /** `who` is `{username}` or `{user_id}`. */
  addMember(roomId, who) {
    return this.request("POST", `/api/chat/rooms/${roomId}/members/`, who);
  }

  setRole(roomId, userId, role) {
    return this.request("PATCH", `/api/chat/rooms/${roomId}/members/${userId}/`, { role });
  }

  removeMember(roomId, userId) {
    return this.request("DELETE", `/api/chat/rooms/${roomId}/members/${userId}/`);
  }

  /** A page of history, oldest first: `{before}` pages back, `{after}` catches up. */
  messages(roomId, { before, after, limit } = {}) {
    return this.request("GET", `/api/chat/rooms/${roomId}/messages/${query({ before, after, limit })}`);
  }

  /** Posts once: `fields` is `{content, reply_to?, message_type?, client_id?}`. */
  postMessage(roomId, fields) {
    return this.request("POST", `/api/chat/rooms/${roomId}/messages/`, fields);
  }

  markRead(messageId) {
    return this.request("POST", `/api/chat/messages/${messageId}/read/`);
  }

  deleteMessage(messageId) {
    return this.request("DELETE", `/api/chat/messages/${messageId}/delete/`);
  }

  /** Changes one's own message; resolves with the message (`edited_at` set). */
  editMessage(messageId, content) {
    return this.request("PATCH", `/api/chat/messages/${messageId}/`, { content });
  }

  /** Reacts with `emoji`; resolves with that emoji's `{emoji, count, users}`. */
  react(messageId, emoji) {
    return this.request("POST", `/api/chat/messages/${messageId}/reactions/`, { emoji });
  }

  unreact(messageId, emoji) {
    return this.request("DELETE", `/api/chat/messages/${messageId}/reactions/${encodeURIComponent(emoji)}/`);
  }

  /** Messages of your rooms (or of `room`) containing every term of `q`, newest first, paginated. */
  search(q, { room, page, pageSize } = {}) {
    return this.request("GET", `/api/chat/search/${query({ q, room, page, page_size: pageSize })}`);
  }

  notifications({ unreadOnly = false, page } = {}) {
    return this.request("GET", `/api/chat/notifications/${query({ is_read: unreadOnly ? "false" : "", page })}`);
  }

  readNotification(id) {
    return this.request("POST", `/api/chat/notifications/${id}/read/`);
  }

  readAllNotifications() {
    return this.request("POST", "/api/chat/notifications/read_all/");
  }

  // ---- sending with retries ------------------------------------------------

  /**
   * Posts a message and resolves with the stored message. It is sent over
   * REST with a fresh `client_id`; when the network fails it waits and sends
   * again with the same `client_id` (the server stores it once) until the
   * server answers. An ApiError (4xx) rejects: the message was refused.
   * `pending()` lists what is still on its way, for the UI to show; every
   * outcome is also emitted, as "sent" `{roomId, clientId, message}` or
   * "send_failed" `{roomId, clientId, content, error}`, which is how a UI
   * hears about sends resumed after a reload.
   */
  send(roomId, content, { replyTo = null, clientId = newClientId(), attachments = [] } = {}) {
    const fields = {
      content,
      client_id: clientId,
      ...(replyTo ? { reply_to: replyTo } : {}),
      ...(attachments.length ? { attachments } : {}),
    };
    return this.#enqueue({ roomId, fields });
  }

  // ---- files -----------------------------------------------------------------

  /**
   * Uploads a file (a File or Blob) to a room and resolves with its file
   * object; pass its `id` in `send(..., {attachments: [id]})`. `onProgress(sent,
   * total)` follows the upload (XMLHttpRequest: fetch reports no upload
   * progress). `signal` aborts it. An ApiError rejects a refused file (413 too
   * large or over quota, 400 an image too large to thumbnail).
   */
  async uploadFile(roomId, file, { onProgress, signal } = {}) {
    const attempt = async () => {
      const token = await this.accessToken();
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open("POST", `${this.baseUrl}/api/chat/rooms/${roomId}/files/`);
        xhr.setRequestHeader("Authorization", `Bearer ${token}`);
        xhr.setRequestHeader("Accept", "application/json");
        xhr.upload.onprogress = (event) => onProgress?.(event.loaded, event.lengthComputable ? event.total : file.size);
        xhr.onload = () => {
          let data = null;
          try {
            data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
          } catch {
            data = { detail: xhr.responseText };
          }
          if (xhr.status >= 200 && xhr.status < 300) resolve(data);
          else reject(new ApiError(xhr.status, data));
        };
        xhr.onerror = () => reject(new NetworkError(new Error("the upload did not reach the server")));
        xhr.onabort = () => reject(new NetworkError(new Error("the upload was cancelled")));
        signal?.addEventListener("abort", () => xhr.abort(), { once: true });
        const form = new FormData();
        form.append("file", file, file.name || "pasted-file");
        xhr.send(form);
      });
    };
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401 || !this.refresh) throw error;
      await this.#refreshAccess();
      return attempt();
    }
  }

  /** A file link of a file object (root-relative) as an absolute URL of this server. */
  fileUrl(path) {
    return new URL(path, this.baseUrl || globalThis.location.href).href;
  }

  /**
   * Sends again what an earlier page of this user left in the outbox (it was
   * closed or reloaded before the server answered). The same `client_id`s
   * go out, so a message the server had already stored is not stored twice.
   */
  resumeOutbox() {
    let saved = null;
    try {
      saved = JSON.parse(this.storage?.getItem(OUTBOX_KEY) ?? "null");
    } catch {
      // A damaged entry is dropped with the next save.
    }
    if (!saved || saved.user !== this.user?.id || !Array.isArray(saved.entries)) return;
    for (const { roomId, fields } of saved.entries) {
      if (Number.isInteger(roomId) && typeof fields?.client_id === "string" && !this.#outbox.has(fields.client_id)) {
        this.#enqueue({ roomId, fields }).catch(() => {});
      }
    }
  }

  #enqueue({ roomId, fields }) {
    return new Promise((resolve, reject) => {
      const entry = { roomId, fields, resolve, reject, attempt: 0, timer: null };
      this.#outbox.set(fields.client_id, entry);
      this.#saveOutbox();
      this.emit("outbox", this.pending());
      this.#attempt(entry);
    });
  }

  #saveOutbox() {
    if (!this.storage || !this.user) return;
    const entries = [...this.#outbox.values()].map(({ roomId, fields }) => ({ roomId, fields }));
    if (entries.length === 0) this.storage.removeItem(OUTBOX_KEY);
    else this.storage.setItem(OUTBOX_KEY, JSON.stringify({ user: this.user.id, entries }));
  }

  /** Messages sent but not yet stored: `[{roomId, clientId, content, replyTo, attachments}]`. */
  pending() {
    return [...this.#outbox.values()].map(({ roomId, fields }) => ({
      roomId,
      clientId: fields.client_id,
      content: fields.content,
      replyTo: fields.reply_to ?? null,
      attachments: fields.attachments ?? [],
    }));
  }

  async #attempt(entry) {
    clearTimeout(entry.timer);
    entry.timer = null;
    if (!this.#outbox.has(entry.fields.client_id)) return;
    entry.attempt += 1;
    const { roomId, fields } = entry;
    try {
      const message = await this.postMessage(roomId, fields);
      this.#settle(entry, () => entry.resolve(message));
      this.emit("sent", { roomId, clientId: fields.client_id, message });
    } catch (error) {
      const transient = error instanceof NetworkError || (error instanceof ApiError && error.status >= 500);
      if (!transient) {
        this.#settle(entry, () => entry.reject(error));
        this.emit("send_failed", { roomId, clientId: fields.client_id, content: fields.content, error });
        return;
      }
      // Back off; a reconnecting socket also calls #retryOutbox at once.
      const delay = Math.min(10_000, 500 * 2 ** Math.min(entry.attempt, 5));
      entry.timer = setTimeout(() => this.#attempt(entry), delay);
    }
  }

  #settle(entry, finish) {
    clearTimeout(entry.timer);
    this.#outbox.delete(entry.fields.client_id);
    this.#saveOutbox();
    finish();
    this.emit("outbox", this.pending());
  }

  /** The server is back: send what waits now instead of at the next backoff tick. */
  retryOutbox() {
    for (const entry of this.#outbox.values()) if (entry.timer) this.#attempt(entry);
  }

  // ---- live frames -----------------------------------------------------------

  /** The user's one socket (created on first call); see LiveConnection. */
  live() {
    this.#live ??= new LiveConnection(this);
    return this.#live;
  }

  /** `ws(s)://host/ws/chat/...` for this client's base URL. */
  socketUrl(path, params) {
    const url = new URL(`${path}${query(params)}`, this.baseUrl || globalThis.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  }
}

/**
 * The user socket `/ws/chat/`: every frame of every room the user is in,
 * plus their notifications. Frames are emitted by type ("chat_message",
 * "typing", "message_read", "member_added", ...; each carries `room`) and
 * all of them as "frame". "status" reports "connecting" | "open" | "offline".
 *
 * It remembers, per room, the newest message id and the room's change
 * number (`change_seq`) it has seen, and reconnects with
 * `?since=room:change_seq,...` (or, against a server without change
 * numbers, `?after=room:id,...`), so the server replays exactly what was
 * missed: new messages, and deletes, edits and reactions too. Call
 * `track(roomId, lastMessageId, changeSeq)` for rooms known from REST
 * before their first live frame, so a drop right after loading loses nothing.
 */
export class LiveConnection extends Emitter {
  constructor(client) {
    super();
    this.client = client;
    this.status = "connecting";
    this.lastSeen = new Map();
    this.lastChange = new Map();
    this.socket = null;
    this.closed = false;
    this.failures = 0;
    this.timer = null;
    this.#onOnline = () => this.reconnectNow();
    globalThis.addEventListener?.("online", this.#onOnline);
    this.#connect();
  }

  #onOnline;

  /** Remembers that `roomId` is known up to `messageId` and (if given) change number `changeSeq`. */
  track(roomId, messageId = 0, changeSeq) {
    if ((this.lastSeen.get(roomId) ?? -1) < messageId) this.lastSeen.set(roomId, messageId);
    if (Number.isInteger(changeSeq) && (this.lastChange.get(roomId) ?? -1) < changeSeq) {
      this.lastChange.set(roomId, changeSeq);
    }
  }

  /** Stops following a room (left it) so resumes no longer ask for it. */
  forget(roomId) {
    this.lastSeen.delete(roomId);
    this.lastChange.delete(roomId);
  }

  /** Sends a frame when open; returns false when it could not be sent. */
  sendFrame(frame) {
    if (this.socket?.readyState !== 1) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  typing(roomId, isTyping) {
    return this.sendFrame({ type: "typing", room: roomId, is_typing: isTyping });
  }

  markRead(roomId, messageId) {
    return this.sendFrame({ type: "mark_read", room: roomId, message_id: messageId });
  }

  /** Skips the backoff wait (the browser says it is online again). */
  reconnectNow() {
    if (this.closed || this.status === "open") return;
    clearTimeout(this.timer);
    this.failures = 0;
    if (this.socket?.readyState !== 0) this.#connect();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    globalThis.removeEventListener?.("online", this.#onOnline);
    this.socket?.close(1000);
  }

  #setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.emit("status", status);
  }

  async #connect() {
    if (this.closed) return;
    let token;
    try {
      token = await this.client.accessToken();
    } catch {
      if (!this.client.loggedIn) return; // the session ended: logout() closes us
      return this.#scheduleReconnect();
    }
    // A room with a change number resumes by it (deletes, edits and reactions
    // too); one without (not seen since, or an older server) by message id.
    const since = [...this.lastChange].map(([room, seq]) => `${room}:${seq}`).join(",");
    const after = [...this.lastSeen]
      .filter(([room]) => !this.lastChange.has(room))
      .map(([room, id]) => `${room}:${id}`)
      .join(",");
    const socket = new this.client.WebSocket(this.client.socketUrl("/ws/chat/", { token, since, after }));
    this.socket = socket;
    socket.onmessage = (event) => this.#receive(event.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.#closed(event.code);
    };
  }

  #receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === "connection_established") {
      this.failures = 0;
      for (const room of frame.rooms ?? []) this.track(room, 0);
      this.#setStatus("open");
      this.client.retryOutbox();
    } else if (frame.type === "chat_message" && frame.message) {
      this.track(frame.message.room, frame.message.id, frame.change_seq);
    } else if (Number.isInteger(frame.change_seq) && frame.room) {
      this.track(frame.room, 0, frame.change_seq);
    } else if (frame.type === "member_added" && frame.user?.id === this.client.user?.id) {
      this.track(frame.room, 0);
    } else if (frame.type === "member_removed" && frame.user?.id === this.client.user?.id) {
      this.forget(frame.room);
    } else if (frame.type === "room_deleted") {
      this.forget(frame.room);
    }
    this.emit(frame.type, frame);
    this.emit("frame", frame);
  }

  async #closed(code) {
    if (this.closed) return;
    this.#setStatus("offline");
    if (code === 4003) {
      // Not (or no longer) a developer: reconnecting cannot help.
      this.emit("refused", code);
      return;
    }
    if (code === 4001) {
      // The token expired or was refused: a refresh decides whether we go on.
      try {
        await this.client.accessToken();
      } catch {
        return;
      }
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect() {
    this.failures += 1;
    // 0.5 s, 1 s, 2 s ... capped at 10 s, with jitter so a restarted server
    // is not met by every client in the same millisecond.
    const delay = Math.min(10_000, 250 * 2 ** Math.min(this.failures, 6)) * (0.75 + Math.random() / 2);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.#connect(), delay);
  }
}

// The sidebar: the user's rooms (newest activity first, unread counts),
// public rooms to join, a name filter that also asks the server, and the
// "New room" dialog.

import { html, useMemo, useRef, useState } from "./html.js";
import { client, createRoom, describe, me, navigateTo, openDirect, roomTitle, searchRooms, state } from "./store.js";
import { Modal } from "./dialogs.js";

const activity = (room) => room.last_message?.created_at ?? room.created_at;

export const roomTypeLabel = (room) =>
  ({ public: "Public room", private: "Private room", group: "Group room" })[room.room_type] ?? room.room_type;

export function RoomList() {
  const [filter, setFilter] = useState("");
  const [creating, setCreating] = useState(false);
  const [messaging, setMessaging] = useState(false);
  const lookup = useRef(null);
  const onFilter = (event) => {
    const text = event.currentTarget.value;
    setFilter(text);
    clearTimeout(lookup.current);
    if (text.trim()) lookup.current = setTimeout(() => searchRooms(text.trim()), 250);
  };
  const search = filter.trim().toLowerCase();
  const matches = [...state.rooms.values()]
    .filter((room) => room.is_active && (!search || roomTitle(room).toLowerCase().includes(search)))
    .sort((a, b) => activity(b).localeCompare(activity(a)) || b.id - a.id);
  const mine = matches.filter((room) => room.is_member && !room.is_direct);
  const direct = matches.filter((room) => room.is_member && room.is_direct);
  const others = matches.filter((room) => !room.is_member);
  return html`<nav class="sidebar" aria-label="Rooms">
    <div class="sidebar-head">
      <h2>Rooms</h2>
      <button type="button" class="primary small" onClick=${() => setCreating(true)}>New room</button>
    </div>
    <label for="room-search" class="visually-hidden">Search rooms</label>
    <input id="room-search" data-focus-fallback type="search" placeholder="Search rooms" autocomplete="off" value=${filter} onInput=${onFilter} />
    <ul class="room-list" aria-label="Your rooms">
      ${mine.map((room) => html`<${RoomItem} key=${room.id} room=${room} />`)}
    </ul>
    ${mine.length === 0 ? html`<p class="muted empty-note">No rooms yet: create one, or join a public room below.</p>` : null}
    <div class="sidebar-head section-head">
      <h3 id="direct-heading" class="section-title">Direct messages</h3>
      <button type="button" class="ghost small" onClick=${() => setMessaging(true)}>New message</button>
    </div>
    <ul class="room-list" aria-labelledby="direct-heading">
      ${direct.map((room) => html`<${RoomItem} key=${room.id} room=${room} />`)}
    </ul>
    ${others.length > 0
      ? html`<h3 id="public-rooms-heading" class="section-title">Public rooms to join</h3>
          <ul class="room-list" aria-labelledby="public-rooms-heading">
            ${others.map((room) => html`<${RoomItem} key=${room.id} room=${room} />`)}
          </ul>`
      : null}
    ${creating ? html`<${NewRoomDialog} onClose=${() => setCreating(false)} />` : null}
    ${messaging ? html`<${DirectDialog} onClose=${() => setMessaging(false)} />` : null}
  </nav>`;
}

function RoomItem({ room }) {
  const last = room.last_message;
  const title = roomTitle(room);
  const preview = last
    ? `${last.sender.username}: ${last.content}`
    : room.is_direct
      ? "Direct conversation"
      : room.description || roomTypeLabel(room);
  const unread = room.is_member && room.unread_count > 0;
  return html`<li>
    <button
      type="button"
      class=${unread ? "room-item unread" : "room-item"}
      aria-current=${room.id === state.roomId ? "page" : null}
      onClick=${() => navigateTo(room.id)}
    >
      <${Avatar} name=${title} mark=${room.is_direct ? null : room.room_type === "public" ? "#" : "🔒"} />
      <span class="room-line">
        <span class="room-name" dir="auto">${title}</span>
        ${unread
          ? html`<span class="badge"><span class="visually-hidden">, </span>${room.unread_count}<span class="visually-hidden"> unread</span></span>`
          : null}
      </span>
      <span class="room-preview" dir="auto"><span class="visually-hidden">, </span>${preview}</span>
    </button>
  </li>`;
}

/** A coloured initial, the same colour for the same name everywhere; decorative. */
export function Avatar({ name, mark }) {
  const hue = useMemo(() => {
    let hash = 0;
    for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
    return hash % 8;
  }, [name]);
  const initial = mark ?? [...name.trim()][0]?.toUpperCase() ?? "?";
  return html`<span class=${`avatar hue-${hue}`} aria-hidden="true">${initial}</span>`;
}

function NewRoomDialog({ onClose }) {
  const [error, setError] = useState("");
  const submit = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    try {
      await createRoom({ name: form.name.value, description: form.description.value, room_type: form.room_type.value });
      onClose();
    } catch (failure) {
      setError(describe(failure));
    }
  };
  return html`<${Modal} labelledBy="new-room-title" onClose=${onClose}>
    <form class="card dialog-card" onSubmit=${submit}>
      <h2 id="new-room-title">New room</h2>
      <label for="new-room-name">Name</label>
      <input id="new-room-name" name="name" required maxlength="100" autocomplete="off" autofocus />
      <label for="new-room-description">Description</label>
      <textarea id="new-room-description" name="description" maxlength="500" rows="2"></textarea>
      <label for="new-room-type">Type</label>
      <select id="new-room-type" name="room_type">
        <option value="public">Public: any developer can find and join it</option>
        <option value="group">Group: a team room, invite only</option>
        <option value="private">Private: a direct conversation, invite only</option>
      </select>
      <p class="error" role="alert">${error}</p>
      <div class="actions">
        <button type="button" class="ghost" onClick=${onClose}>Cancel</button>
        <button type="submit" class="primary">Create room</button>
      </div>
    </form>
  <//>`;
}

/** Starting a direct conversation: find a developer by name, pick them. */
function DirectDialog({ onClose }) {
  const [users, setUsers] = useState([]);
  const [error, setError] = useState("");
  const timer = useRef(null);
  const find = (event) => {
    const text = event.currentTarget.value.trim();
    clearTimeout(timer.current);
    timer.current = setTimeout(async () => {
      try {
        const page = await client.users(text);
        setUsers(page.results.filter((user) => user.id !== me().id).slice(0, 8));
        setError("");
      } catch (failure) {
        setError(describe(failure));
      }
    }, 150);
  };
  const pick = async (user) => {
    try {
      await openDirect(user);
      onClose();
    } catch (failure) {
      setError(describe(failure));
    }
  };
  return html`<${Modal} labelledBy="direct-title" onClose=${onClose}>
    <div class="card dialog-card">
      <h2 id="direct-title">New direct message</h2>
      <label for="direct-search">Find a developer</label>
      <input id="direct-search" type="search" autocomplete="off" autocapitalize="none" spellcheck="false" autofocus onInput=${find} />
      <ul class="pick-list" aria-label="Developers">
        ${users.map(
          (user) => html`<li key=${user.id}>
            <button type="button" class="ghost" onClick=${() => pick(user)}>Message ${user.username}</button>
          </li>`,
        )}
      </ul>
      <p class="error" role="alert">${error}</p>
      <div class="actions">
        <button type="button" class="ghost" onClick=${onClose}>Cancel</button>
      </div>
    </div>
  <//>`;
}

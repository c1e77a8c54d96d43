// The open room: its header (name, description, join, members, settings,
// leave, delete), the message list, who is typing and the composer (which
// also takes files dropped on the room).

import { html, useState } from "./html.js";
import {
  confirm,
  currentRoom,
  deleteRoom,
  describe,
  joinRoom,
  leaveRoom,
  navigateTo,
  roomTitle,
  state,
  togglePanel,
  updateRoom,
  uploadFiles,
} from "./store.js";
import { roomTypeLabel } from "./rooms.js";
import { MessageList } from "./messages.js";
import { Composer } from "./composer.js";
import { Modal } from "./dialogs.js";

export function RoomView() {
  const room = currentRoom();
  if (!room) {
    return html`<main class="room-view" aria-label="Room">
      <div class="placeholder"><p>${state.placeholder}</p></div>
    </main>`;
  }
  // Files dropped anywhere on a room one may post in are attached to the next message.
  const carriesFiles = (event) => room.is_member && [...(event.dataTransfer?.types ?? [])].includes("Files");
  const onDragOver = (event) => {
    if (carriesFiles(event)) event.preventDefault();
  };
  const onDrop = (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    uploadFiles(room.id, [...event.dataTransfer.files]);
  };
  return html`<main class="room-view" aria-label=${`Room ${roomTitle(room)}`} onDragOver=${onDragOver} onDrop=${onDrop}>
    <div class="room-content">
      <${RoomHead} room=${room} />
      <${MessageList} key=${room.id} room=${room} />
      <${Typing} />
      ${room.is_member
        ? html`<${Composer} key=${room.id} room=${room} />`
        : html`<p class="not-member">You are reading this public room. Join it to post.</p>`}
    </div>
  </main>`;
}

function RoomHead({ room }) {
  const [error, setError] = useState("");
  const [editing, setEditing] = useState(false);
  const act = (action) => action().catch((failure) => setError(describe(failure)));
  const membersOpen = state.panel === "members";
  const parts = room.is_direct
    ? ["Direct conversation"]
    : [roomTypeLabel(room), `${room.member_count} member${room.member_count === 1 ? "" : "s"}`];
  if (room.description) parts.push(room.description);
  const admin = room.my_role === "admin" && !room.is_direct;
  const leave = () =>
    confirm({
      title: `Leave ${room.name}?`,
      body: room.room_type === "public" ? "You can join again at any time." : "Only an admin or moderator can add you back.",
      action: "Leave room",
      run: () => leaveRoom(room.id),
    });
  const remove = () =>
    confirm({
      title: `Delete ${room.name}?`,
      body: "The room and its messages disappear for every member. This cannot be undone.",
      action: "Delete room",
      run: () => deleteRoom(room.id),
    });
  return html`<header class="room-head">
    <button type="button" class="ghost back" aria-label="Back to rooms" onClick=${() => navigateTo(null)}>‹</button>
    <div class="room-title">
      <h2 dir="auto">${roomTitle(room)}</h2>
      <p class="muted" dir="auto">${parts.join(" · ")}</p>
      <p class="error" role="alert">${error}</p>
    </div>
    <div class="room-actions">
      ${room.is_member
        ? null
        : html`<button type="button" class="primary small" onClick=${() => act(() => joinRoom(room.id))}>Join room</button>`}
      <button
        id="members-button"
        type="button"
        class="ghost small"
        aria-expanded=${String(membersOpen)}
        aria-controls="members-panel"
        onClick=${() => togglePanel("members")}
      >
        Members
      </button>
      ${admin ? html`<button type="button" class="ghost small" onClick=${() => setEditing(true)}>Room settings</button>` : null}
      ${room.is_member && !room.is_direct
        ? html`<button type="button" class="ghost small" onClick=${leave}>Leave room</button>`
        : null}
      ${admin ? html`<button type="button" class="ghost small danger" onClick=${remove}>Delete room</button>` : null}
    </div>
    ${editing ? html`<${RoomSettings} room=${room} onClose=${() => setEditing(false)} />` : null}
  </header>`;
}

/** Renaming a room and editing its description (room admins). */
function RoomSettings({ room, onClose }) {
  const [error, setError] = useState("");
  const submit = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    try {
      await updateRoom(room.id, { name: form.name.value, description: form.description.value });
      onClose();
    } catch (failure) {
      setError(describe(failure));
    }
  };
  return html`<${Modal} labelledBy="room-settings-title" onClose=${onClose}>
    <form class="card dialog-card" onSubmit=${submit}>
      <h2 id="room-settings-title">Room settings</h2>
      <label for="room-settings-name">Name</label>
      <input id="room-settings-name" name="name" required maxlength="100" autocomplete="off" defaultValue=${room.name} autofocus />
      <label for="room-settings-description">Description</label>
      <textarea id="room-settings-description" name="description" maxlength="500" rows="3" defaultValue=${room.description}></textarea>
      <p class="error" role="alert">${error}</p>
      <div class="actions">
        <button type="button" class="ghost" onClick=${onClose}>Cancel</button>
        <button type="submit" class="primary">Save</button>
      </div>
    </form>
  <//>`;
}

function Typing() {
  const names = [...state.typing.values()].map(({ user }) => user.username);
  const text =
    names.length === 0
      ? ""
      : names.length === 1
        ? `${names[0]} is typing…`
        : names.length <= 3
          ? `${names.join(", ")} are typing…`
          : "Several people are typing…";
  return html`<p class="typing" role="status">${text}</p>`;
}

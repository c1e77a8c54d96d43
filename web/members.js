// The members panel of the open room: who is in it and online, roles
// (admins change them), removal (asked for first) and adding by username.

import { html, useLayoutEffect, useRef } from "./html.js";
import {
  addMember,
  confirm,
  currentRoom,
  describe,
  me,
  onlineSet,
  openDirect,
  removeMember,
  setRole,
  state,
  togglePanel,
} from "./store.js";

const ROLES = ["admin", "moderator", "member"];

export function MembersPanel() {
  const room = currentRoom();
  const closeButton = useRef(null);
  useLayoutEffect(() => {
    closeButton.current?.focus();
    // Focus goes back to the button that opened the panel.
    return () => document.getElementById("members-button")?.focus();
  }, []);
  if (!room) return null;
  const members = state.members.get(room.id) ?? [];
  const online = onlineSet(room.id);
  const isModerator = !room.is_direct && (room.my_role === "admin" || room.my_role === "moderator");
  const add = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const username = form.username.value.trim();
    await addMember(username);
    if (!state.membersError) form.reset();
  };
  return html`<aside id="members-panel" class="panel members-panel" aria-labelledby="members-title">
    <div class="panel-head">
      <h2 id="members-title">Members</h2>
      <button ref=${closeButton} type="button" class="ghost small" aria-label="Close members" onClick=${() => togglePanel("members", false)}>
        ✕
      </button>
    </div>
    <ul class="member-list">
      ${members.map((member) => html`<${MemberItem} key=${member.user.id} member=${member} room=${room} isOnline=${online.has(member.user.id)} />`)}
    </ul>
    <p class="error" role="alert">${state.membersError}</p>
    ${isModerator
      ? html`<form class="add-member" onSubmit=${add}>
          <label for="add-member-input">Add member by username</label>
          <div class="inline">
            <input id="add-member-input" name="username" autocomplete="off" autocapitalize="none" spellcheck="false" required />
            <button type="submit" class="primary small">Add</button>
          </div>
        </form>`
      : null}
  </aside>`;
}

function MemberItem({ member, room, isOnline }) {
  const { user, role } = member;
  const self = user.id === me().id;
  const isAdmin = room.my_role === "admin" && !room.is_direct;
  const mayRemove = !room.is_direct && !self && (isAdmin || (room.my_role === "moderator" && role === "member"));
  const message = () =>
    openDirect(user).catch((error) => {
      state.membersError = describe(error);
    });
  const changeRole = (event) => {
    const select = event.currentTarget;
    const next = select.value;
    select.value = role; // shown as it is until the change is confirmed and done
    confirm({
      title: `Make ${user.username} ${next === "admin" ? "an" : "a"} ${next}?`,
      body: `${user.username} is ${role === "admin" ? "an" : "a"} ${role} of ${room.name} now.`,
      action: `Make ${next}`,
      run: () => setRole(user, next),
    });
  };
  const remove = () =>
    confirm({
      title: `Remove ${user.username} from ${room.name}?`,
      body: `${user.username} loses access to the room at once.`,
      action: "Remove member",
      run: () => removeMember(user),
    });
  return html`<li class="member">
    <span class=${isOnline ? "dot online" : "dot"} aria-hidden="true"></span>
    <span class="member-name" dir="auto">
      ${user.username}${self ? " (you)" : ""}<span class="visually-hidden">, ${isOnline ? "online" : "offline"}</span>
    </span>
    ${isAdmin && !self
      ? html`<select aria-label=${`Role of ${user.username}`} value=${role} onChange=${changeRole}>
          ${ROLES.map((option) => html`<option value=${option}>${option}</option>`)}
        </select>`
      : html`<span class=${`role role-${role}`}>${role}</span>`}
    ${self || room.is_direct
      ? null
      : html`<button type="button" class="ghost tiny" aria-label=${`Message ${user.username}`} onClick=${message}>Message</button>`}
    ${mayRemove
      ? html`<button type="button" class="ghost tiny danger" aria-label=${`Remove ${user.username}`} onClick=${remove}>Remove</button>`
      : null}
  </li>`;
}

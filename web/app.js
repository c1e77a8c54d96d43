// The Confab web client's entry: the screens (loading, login, no access,
// chat) and the chat layout. State and server traffic live in store.js;
// each part of the chat screen has its own module.

import { html, render, useState } from "./html.js";
import { ApiError } from "./confab-client.js";
import {
  boot,
  changed,
  closeSearch,
  describe,
  login,
  logout,
  me,
  onChange,
  openResult,
  roomTitle,
  searchMessages,
  state,
  togglePanel,
  totalUnread,
} from "./store.js";
import { clock } from "./format.js";
import { RoomList } from "./rooms.js";
import { RoomView } from "./room.js";
import { MembersPanel } from "./members.js";
import { NotificationsButton, NotificationsPanel } from "./notifications.js";
import { ConfirmDialog } from "./dialogs.js";

function App() {
  document.title = totalUnread() ? `(${totalUnread()}) Confab` : "Confab";
  switch (state.screen) {
    case "login":
      return html`<${LoginScreen} />`;
    case "no-access":
      return html`<${NoAccessScreen} />`;
    case "chat":
      return html`<${ChatScreen} />`;
    default:
      return html`<main class="screen centered" aria-busy="true">
        <div class="card">
          <h1><span class="logo" aria-hidden="true">◆</span> Confab</h1>
          <p class="muted" role="status">${state.bootError || "Loading Confab…"}</p>
        </div>
      </main>`;
  }
}

function LoginScreen() {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    setError("");
    setBusy(true);
    try {
      await login(form.username.value.trim(), form.password.value);
    } catch (failure) {
      form.password.value = "";
      setError(failure instanceof ApiError && failure.status === 401 ? "Wrong username or password." : describe(failure));
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="screen centered">
    <form class="card login-card" onSubmit=${submit}>
      <h1><span class="logo" aria-hidden="true">◆</span> Confab</h1>
      <p class="muted">Team chat for developers</p>
      <label for="login-username">Username</label>
      <input id="login-username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus />
      <label for="login-password">Password</label>
      <input id="login-password" name="password" type="password" autocomplete="current-password" required />
      <p class="error" role="alert">${error}</p>
      <button type="submit" class="primary wide" disabled=${busy}>Log in</button>
    </form>
  </main>`;
}

function NoAccessScreen() {
  const name = me()?.username ?? "";
  return html`<main class="screen centered">
    <div class="card">
      <h1>No access to chat</h1>
      <p>You are logged in as <strong>${name}</strong>, but chat is open only to users with the <code>developer</code> role.</p>
      <p>Ask an administrator to run <code>confab user grant ${name} developer</code>, then log in again.</p>
      <button type="button" class="primary" onClick=${logout}>Log out</button>
    </div>
  </main>`;
}

function ChatScreen() {
  const offline = state.connection === "offline";
  const classes = ["screen", "chat", state.roomId ? "room-open" : ""];
  return html`<div class=${classes.join(" ")}>
    <header class="topbar">
      <h1 class="brand"><span class="logo" aria-hidden="true">◆</span> Confab</h1>
      <form class="message-search" role="search" onSubmit=${(event) => (event.preventDefault(), searchMessages(event.currentTarget.q.value))}>
        <label for="message-search" class="visually-hidden">Search messages</label>
        <input id="message-search" name="q" type="search" placeholder="Search messages" maxlength="200" autocomplete="off" />
      </form>
      <p class=${offline ? "connection offline" : "connection"} role="status">
        ${offline ? "You are offline. Reconnecting…" : ""}
      </p>
      <div class="topbar-actions">
        <${NotificationsButton} />
        <span class="me">${me().username}</span>
        <button type="button" class="ghost" onClick=${logout}>Log out</button>
      </div>
    </header>
    ${state.panel === "notifications" ? html`<${NotificationsPanel} />` : null}
    ${state.search ? html`<${SearchResults} />` : null}
    <${RoomList} />
    <${RoomView} />
    ${state.panel === "members" && state.roomId ? html`<${MembersPanel} />` : null}
    <${ConfirmDialog} />
  </div>`;
}

/** Search results: each opens its room at the message. */
function SearchResults() {
  const { query, results, count, loading, error } = state.search;
  const close = () => {
    closeSearch();
    document.getElementById("message-search")?.focus();
  };
  return html`<section class="panel search-panel" aria-labelledby="search-title">
    <div class="panel-head">
      <h2 id="search-title">Results for “${query}”</h2>
      <button type="button" class="ghost small" aria-label="Close search results" onClick=${close}>✕</button>
    </div>
    <p class="muted empty-note" role="status">
      ${loading ? "Searching…" : error ? "" : count === 0 ? "No messages found." : `${count} message${count === 1 ? "" : "s"}`}
    </p>
    <p class="error" role="alert">${error}</p>
    <ul class="search-results">
      ${results.map((message) => {
        const room = state.rooms.get(message.room);
        return html`<li key=${message.id}>
          <button type="button" class="search-result" onClick=${() => openResult(message)}>
            <span class="search-where">${message.sender.username} in ${room ? roomTitle(room) : `room ${message.room}`} · ${clock(message.created_at)}</span>
            <span class="search-content" dir="auto">${message.content}</span>
          </button>
        </li>`;
      })}
    </ul>
  </section>`;
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.search && !state.confirmation && !event.defaultPrevented) {
    closeSearch();
    document.getElementById("message-search")?.focus();
    return;
  }
  if (event.key !== "Escape" || state.confirmation || event.defaultPrevented) return;
  if (event.target.closest?.("dialog, #composer")) return;
  if (state.panel) togglePanel(state.panel, false);
});

const root = document.getElementById("app");
root.replaceChildren();
onChange(() => render(html`<${App} />`, root));
changed();
boot();

// The message composer of the open room: its draft (kept per room across
// switches and reloads), keys (Enter sends, Shift+Enter adds a line; on a
// touch screen Enter adds a line and the button sends), the reply banner,
// typing signals, @mention suggestions drawn from the room's members, and
// files: attached by the button, by pasting, or by dropping them on the room
// (see room.js), each uploaded at once with its progress shown.

import { html, useEffect, useRef, useState } from "./html.js";
import { changed, me, removeUpload, saveDraft, send, startEditing, state, uploadFiles, uploadsOf } from "./store.js";
import { formatSize, mentionedNames } from "./format.js";

const MAX_LENGTH = 5000;
const TYPING_REPEAT_MS = 3000;
const TYPING_IDLE_MS = 4000;
const INPUT_ID = "message-input";

/** Starts a reply to `message` in the open room's composer. */
export function replyTo(message) {
  state.reply = { roomId: message.room, message };
  changed();
  document.getElementById(INPUT_ID)?.focus();
}

function cancelReply() {
  state.reply = null;
  changed();
}

const touchScreen = () => matchMedia("(pointer: coarse)").matches;

export function Composer({ room }) {
  const input = useRef(null);
  const [text, setText] = useState(() => state.drafts.get(room.id) ?? "");
  const [error, setError] = useState("");
  const [note, setNote] = useState("");
  const [suggestions, setSuggestions] = useState([]);
  const [active, setActive] = useState(0);
  const typing = useRef({ since: 0, idle: null });
  const reply = state.reply?.roomId === room.id ? state.reply.message : null;
  const members = state.members.get(room.id) ?? [];

  const signalTyping = (isTyping) => state.live?.typing(room.id, isTyping);
  const stopTyping = () => {
    clearTimeout(typing.current.idle);
    if (typing.current.since) signalTyping(false);
    typing.current.since = 0;
  };
  // Typing: "true" when it starts and every few seconds while it goes on,
  // "false" after a pause, on send or on leaving the room.
  const startTyping = () => {
    const now = Date.now();
    if (now - typing.current.since > TYPING_REPEAT_MS) {
      typing.current.since = now;
      signalTyping(true);
    }
    clearTimeout(typing.current.idle);
    typing.current.idle = setTimeout(stopTyping, TYPING_IDLE_MS);
  };
  useEffect(() => stopTyping, []);

  // The textarea grows with its text, up to a limit.
  useEffect(() => {
    const element = input.current;
    element.style.height = "auto";
    element.style.height = `${Math.min(element.scrollHeight, 160)}px`;
  }, [text]);

  const mentionPrefix = (value, caret) => {
    const match = /(?:^|\s)@([\w.+-]*)$/u.exec(value.slice(0, caret));
    return match ? match[1].toLowerCase() : null;
  };

  const onInput = (event) => {
    const { value, selectionStart } = event.currentTarget;
    setText(value);
    saveDraft(room.id, value);
    if (value) startTyping();
    const prefix = mentionPrefix(value, selectionStart);
    const found =
      prefix === null
        ? []
        : members
            .map((member) => member.user)
            .filter((user) => user.id !== me().id && user.username.toLowerCase().startsWith(prefix))
            .slice(0, 8);
    setSuggestions(found);
    setActive(0);
  };

  // A click on a suggestion blurs the box first; close only if focus stays away.
  const closeSuggestionsUnlessFocused = () =>
    setTimeout(() => document.activeElement !== input.current && setSuggestions([]), 150);

  const choose = (user) => {
    const element = input.current;
    const caret = element.selectionStart;
    const before = text.slice(0, caret).replace(/@([\w.+-]*)$/u, `@${user.username} `);
    const value = before + text.slice(caret);
    // The box and its caret change now, not after the next render or frame:
    // keys typed meanwhile would land at the end, then the caret jump back.
    element.value = value;
    element.focus();
    element.setSelectionRange(before.length, before.length);
    setText(value);
    saveDraft(room.id, value);
    setSuggestions([]);
  };

  const uploads = uploadsOf(room.id);
  const uploading = uploads.some((u) => !u.file && !u.error);
  const ready = uploads.filter((u) => u.file);

  const submit = (event) => {
    event?.preventDefault();
    const content = text.trim();
    if (uploading) {
      setError("Wait for the files to finish uploading, or remove them.");
      return;
    }
    if (!content && ready.length === 0) return;
    if (content.length > MAX_LENGTH) {
      setError(`Messages are limited to ${MAX_LENGTH} characters (this one has ${content.length}).`);
      return;
    }
    setError("");
    // Mentions only reach members; say so rather than let it fail silently.
    const memberNames = new Set(members.map((member) => member.user.username.toLowerCase()));
    const outsiders = members.length ? [...mentionedNames(content)].filter((name) => !memberNames.has(name)) : [];
    setNote(
      outsiders.length
        ? `${outsiders.map((name) => `@${name}`).join(", ")} ${outsiders.length === 1 ? "is not a member" : "are not members"} of this room and will not be notified.`
        : "",
    );
    send(room.id, content, reply);
    setText("");
    saveDraft(room.id, "");
    setSuggestions([]);
    if (reply) cancelReply();
    stopTyping();
    input.current.focus();
  };

  const onKeyDown = (event) => {
    if (suggestions.length) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        setActive((active + step + suggestions.length) % suggestions.length);
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        choose(suggestions[active]);
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        setSuggestions([]);
        return;
      }
    }
    if (event.key === "ArrowUp" && !text && !event.shiftKey) {
      // As in most chats: Up on an empty composer edits your last message.
      const mine = [...(state.view?.messages.values() ?? [])].filter((m) => m.sender.id === me().id);
      const last = mine.reduce((newest, m) => (!newest || m.id > newest.id ? m : newest), null);
      if (last) {
        event.preventDefault();
        startEditing(last.id);
      }
      return;
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !touchScreen()) {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape" && reply) {
      event.preventDefault();
      cancelReply();
    }
  };

  const pickFiles = useRef(null);
  const onPaste = (event) => {
    const files = [...(event.clipboardData?.files ?? [])];
    if (files.length) {
      event.preventDefault();
      uploadFiles(room.id, files);
    }
  };

  const snippet = reply ? (reply.content.length > 120 ? `${reply.content.slice(0, 120)}…` : reply.content) : "";
  const open = suggestions.length > 0;
  return html`<form id="composer" class="composer" onSubmit=${submit}>
    ${reply
      ? html`<div class="reply-banner">
          <span class="reply-text" dir="auto">Replying to ${reply.sender.username}: ${snippet}</span>
          <button type="button" class="ghost small" onClick=${() => (cancelReply(), input.current.focus())}>Cancel reply</button>
        </div>`
      : null}
    <p class="error" role="alert">${error}</p>
    <p class="note" role="status">${note}</p>
    <p id="message-keys" class="visually-hidden">
      ${touchScreen() ? "Enter adds a line; the Send button sends." : "Enter sends, Shift+Enter adds a line."} @ mentions
      a member, Escape cancels a reply, Up on an empty box edits your last message.
    </p>
    <div class="composer-row">
      <label for=${INPUT_ID} class="visually-hidden">Message</label>
      <textarea
        id=${INPUT_ID}
        ref=${input}
        data-focus-fallback
        rows="1"
        dir="auto"
        placeholder=${`Message ${room.name}`}
        aria-describedby="message-keys"
        aria-autocomplete="list"
        aria-controls=${open ? "mention-list" : null}
        aria-activedescendant=${open ? `mention-${suggestions[active].id}` : null}
        value=${text}
        onInput=${onInput}
        onKeyDown=${onKeyDown}
        onPaste=${onPaste}
        onBlur=${closeSuggestionsUnlessFocused}
      ></textarea>
      <input
        ref=${pickFiles}
        type="file"
        multiple
        hidden
        onChange=${(event) => {
          uploadFiles(room.id, [...event.currentTarget.files]);
          event.currentTarget.value = "";
        }}
      />
      <button type="button" class="ghost attach" aria-label="Attach files" title="Attach files" onClick=${() => pickFiles.current.click()}>
        📎
      </button>
      <button type="submit" class="primary">Send</button>
    </div>
    ${uploads.length
      ? html`<ul class="uploads" aria-label="Files to send">
          ${uploads.map(
            (upload) => html`<li key=${upload.key} class=${upload.error ? "upload failed" : "upload"}>
              <span class="upload-name" dir="auto">${upload.name}</span>
              <span class="upload-size">${formatSize(upload.size)}</span>
              ${upload.error
                ? html`<span class="error" role="alert">${upload.error}</span>`
                : upload.file
                  ? html`<span class="upload-done">Ready</span>`
                  : html`<progress max=${upload.size || 1} value=${upload.sent} aria-label=${`Uploading ${upload.name}`}></progress>`}
              <button type="button" class="ghost tiny" aria-label=${`Remove ${upload.name}`} onClick=${() => removeUpload(room.id, upload.key)}>
                ✕
              </button>
            </li>`,
          )}
        </ul>`
      : null}
    <p class="visually-hidden" role="status">
      ${open ? `${suggestions.length} member${suggestions.length === 1 ? "" : "s"} match; up and down to choose, Enter to insert.` : ""}
    </p>
    ${open
      ? html`<ul id="mention-list" class="mention-list" role="listbox" aria-label="Mention suggestions">
          ${suggestions.map(
            (user, index) => html`<li
              key=${user.id}
              id=${`mention-${user.id}`}
              role="option"
              aria-selected=${String(index === active)}
              onMouseDown=${(event) => (event.preventDefault(), choose(user))}
            >
              @${user.username}
            </li>`,
          )}
        </ul>`
      : null}
  </form>`;
}

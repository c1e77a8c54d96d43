// The open room's messages: a `role=log` list keyed by message id, so a live
// event adds or changes only its own item (focus, an open menu and the
// screen reader's place all survive it). Day headings, messages grouped by
// sender, a "New messages" divider, "Seen by", pending and refused sends.
//
// Keyboard: the list is one Tab stop (a roving tabindex on the messages);
// arrow keys, Home and End move between messages, and Tab from a message
// reaches its actions, which are named after the message they act on.

import { html, useEffect, useLayoutEffect, useMemo, useRef, useState } from "./html.js";
import { formatSize } from "./format.js";
import {
  canModerate,
  changed,
  client,
  confirm,
  deleteMessage,
  describe,
  dismissFailed,
  editMessage,
  fileSending,
  loadOlder,
  me,
  seen,
  startEditing,
  state,
  stopEditing,
  toggleReaction,
} from "./store.js";
import { clock, dayKey, dayLabel, formatContent } from "./format.js";
import { Avatar } from "./rooms.js";
import { replyTo } from "./composer.js";

const GROUP_GAP_MS = 5 * 60 * 1000;
/** The reaction picker's choices (any emoji can be sent; these are one click away). */
const QUICK_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"];

export function MessageList({ room }) {
  const view = state.view;
  const box = useRef(null);
  const fromBottom = useRef(0);
  const visible = useRef(new Set());
  const [active, setActive] = useState(null);
  const [dividerInView, setDividerInView] = useState(true);
  // Created with the component (its items observe themselves as they mount);
  // the implicit root still clips by the scrolling list.
  const [observer] = useState(
    () =>
      new IntersectionObserver(
        (entries) => {
          for (const entry of entries) {
            const id = Number(entry.target.dataset.id);
            // Half of it on screen, or a screenful of one taller than that.
            const shown = entry.intersectionRatio >= 0.5 || entry.intersectionRect.height >= 200;
            if (entry.isIntersecting && shown) visible.current.add(id);
            else visible.current.delete(id);
          }
          reportSeen();
        },
        { threshold: [0, 0.25, 0.5, 0.75, 1] },
      ),
  );
  const [dividerObserver] = useState(
    () => new IntersectionObserver((entries) => setDividerInView(entries.at(-1).isIntersecting)),
  );
  const reportSeen = () => {
    if (visible.current.size && document.visibilityState === "visible") seen(Math.max(...visible.current));
  };

  const messages = view ? [...view.messages.values()].sort((a, b) => a.id - b.id) : [];
  const myId = me().id;
  const storedClientIds = new Set(messages.filter((m) => m.sender.id === myId).map((m) => m.client_id));
  const pending = client.pending().filter((p) => p.roomId === room.id && !storedClientIds.has(p.clientId));
  const failed = state.failed.filter((f) => f.roomId === room.id);
  const activeId = messages.some((m) => m.id === active) ? active : (messages.at(-1)?.id ?? null);

  // Messages on screen while the page is visible count as seen.
  useEffect(() => {
    const onVisibility = () => reportSeen();
    document.addEventListener("visibilitychange", onVisibility);
    return () => {
      observer.disconnect();
      dividerObserver.disconnect();
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, []);

  // Scrolling: to the divider or the bottom once loaded, back to the same
  // place after older messages come in, and along with new ones when at the bottom.
  useLayoutEffect(() => {
    const element = box.current;
    if (!element || !view) return;
    const divider = element.querySelector(".unread-divider");
    if (view.scrollTo === "unread" && divider) element.scrollTop = divider.offsetTop - element.offsetTop - 8;
    else if (view.scrollTo === "keep") element.scrollTop = element.scrollHeight - element.clientHeight - fromBottom.current;
    else if (view.scrollTo === "bottom" || fromBottom.current < 60) element.scrollTop = element.scrollHeight;
    view.scrollTo = null;
    // A search result to show: scroll to it and focus it, once it is loaded.
    const target = state.jumpTo && element.querySelector(`article[data-id="${state.jumpTo}"]`);
    if (target) {
      state.jumpTo = null;
      target.scrollIntoView({ block: "center" });
      setActive(Number(target.dataset.id));
      target.focus({ preventScroll: true });
    }
    fromBottom.current = element.scrollHeight - element.clientHeight - element.scrollTop;
  });

  const onScroll = () => {
    const element = box.current;
    fromBottom.current = element.scrollHeight - element.clientHeight - element.scrollTop;
    if (element.scrollTop < 40 && view?.hasOlder) loadOlder();
  };

  const onKeyDown = (event) => {
    const article = event.target.closest?.("article[data-id]");
    if (!article || event.target !== article) return;
    const articles = [...box.current.querySelectorAll("article[data-id]")];
    const index = articles.indexOf(article);
    const target = {
      ArrowDown: index + 1,
      ArrowUp: index - 1,
      Home: 0,
      End: articles.length - 1,
      PageDown: index + 10,
      PageUp: index - 10,
    }[event.key];
    if (target === undefined) return;
    event.preventDefault();
    const next = articles[Math.max(0, Math.min(articles.length - 1, target))];
    if (next) {
      setActive(Number(next.dataset.id));
      next.focus();
    }
  };

  const jumpToUnread = () => {
    const divider = box.current.querySelector(".unread-divider");
    divider?.scrollIntoView({ block: "start" });
    const first = box.current.querySelector(`article[data-id="${view.firstUnread}"]`);
    if (first) {
      setActive(view.firstUnread);
      first.focus({ preventScroll: true });
    }
  };

  const receipts = seenBy(room, messages, myId);
  const items = [];
  let previous = null;
  for (const message of messages) {
    if (!previous || dayKey(previous.created_at) !== dayKey(message.created_at)) {
      items.push(html`<li key=${`day-${dayKey(message.created_at)}`} class="day-separator">
        <h3>${dayLabel(message.created_at)}</h3>
      </li>`);
      previous = null;
    }
    if (message.id === view.firstUnread) {
      items.push(html`<li key="unread" class="unread-divider" ref=${(el) => el && dividerObserver.observe(el)}>
        <span>New messages</span>
      </li>`);
      previous = null;
    }
    const continued =
      previous &&
      previous.sender.id === message.sender.id &&
      !message.reply_preview &&
      new Date(message.created_at) - new Date(previous.created_at) < GROUP_GAP_MS;
    items.push(html`<${MessageItem}
      key=${message.id}
      message=${message}
      room=${room}
      continued=${continued}
      tabbable=${message.id === activeId}
      seenBy=${receipts.get(message.id)}
      observer=${observer}
      onGone=${() => visible.current.delete(message.id)}
      onFocus=${() => setActive(message.id)}
    />`);
    previous = message;
  }

  const showJump = view?.firstUnread && !dividerInView && view.messages.has(view.firstUnread);
  return html`<div class="messages-wrap">
    ${showJump
      ? html`<button type="button" class="jump-unread small" onClick=${jumpToUnread}>Jump to first unread</button>`
      : null}
    <div class="messages" ref=${box} onScroll=${onScroll} role="log" aria-label="Messages">
      ${view?.hasOlder
        ? html`<button type="button" class="ghost small older" onClick=${loadOlder} disabled=${view.loadingOlder}>
            Load older messages
          </button>`
        : null}
      ${view?.loaded && !view.hasOlder && messages.length > 0
        ? html`<p class="muted history-start">This is the start of the room.</p>`
        : null}
      ${view?.loaded && messages.length === 0 && pending.length === 0
        ? html`<p class="muted history-start">No messages yet. Say hello!</p>`
        : null}
      ${view && !view.loaded && !view.error ? html`<p class="muted history-start">Loading messages…</p>` : null}
      ${view?.error ? html`<p class="error history-start" role="alert">${view.error}</p>` : null}
      <ol class="message-list" onKeyDown=${onKeyDown}>
        ${items}
        ${pending.map((p) => html`<${PendingItem} key=${`pending-${p.clientId}`} pending=${p} />`)}
        ${failed.map((f) => html`<${FailedItem} key=${`failed-${f.clientId}`} failed=${f} />`)}
      </ol>
    </div>
  </div>`;
}

/**
 * "Seen by" under the newest of the user's own messages that someone has
 * read: names from live receipts, or the count the history page gave
 * (`read_count`) after a reload.
 */
function seenBy(room, messages, myId) {
  const result = new Map();
  const readers = [...(state.readers.get(room.id)?.values() ?? [])];
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message.sender.id !== myId) continue;
    const names = readers.filter((r) => r.messageId >= message.id && r.user.id !== myId).map((r) => r.user.username);
    const count = Math.max(names.length, message.read_count ?? 0);
    if (count === 0) continue;
    const others = count - names.length;
    const text = names.length
      ? `Seen by ${names.join(", ")}${others > 0 ? ` and ${others} more` : ""}`
      : `Seen by ${count} ${count === 1 ? "person" : "people"}`;
    result.set(message.id, text);
    break;
  }
  return result;
}

function MessageItem({ message, room, continued, tabbable, seenBy, observer, onGone, onFocus }) {
  const item = useRef(null);
  useEffect(() => {
    const element = item.current;
    observer.observe(element);
    return () => {
      observer.unobserve(element);
      onGone();
    };
  }, []);
  const myself = me();
  const content = useMemo(() => formatContent(message.content, myself.username), [message.content]);
  const mine = message.sender.id === myself.id;
  const deletable = room.is_member && (mine || canModerate(room));
  const editing = state.editing === message.id;
  const [picking, setPicking] = useState(false);
  const [problem, setProblem] = useState("");
  const react = (emoji) => {
    setPicking(false);
    toggleReaction(message, emoji).catch((error) => setProblem(describe(error)));
  };
  const when = clock(message.created_at);
  const who = message.sender.username;
  const preview = message.reply_preview;
  const tab = tabbable ? 0 : -1;
  const remove = () =>
    confirm({
      title: "Delete this message?",
      body: html`<blockquote class="quote" dir="auto"><strong>${who}, ${when}:</strong> ${message.content}</blockquote>
        <p>It disappears for everyone in the room.</p>`,
      action: "Delete message",
      run: () => deleteMessage(message),
    });
  const classes = ["message", mine ? "mine" : "", continued ? "continued" : ""].join(" ");
  return html`<li class=${classes} ref=${item} data-id=${message.id}>
    <article
      data-id=${message.id}
      tabindex=${tab}
      aria-label=${`${who}, ${when}`}
      onFocus=${onFocus}
    >
      <header class="message-head">
        ${continued ? null : html`<${Avatar} name=${who} />`}
        <span class=${continued ? "sender visually-hidden" : "sender"}>${who}</span>
        <time datetime=${message.created_at} title=${new Date(message.created_at).toLocaleString()}>${when}</time>
        ${message.edited_at
          ? html`<span class="edited" title=${`Edited ${new Date(message.edited_at).toLocaleString()}`}>(edited)</span>`
          : null}
        ${room.is_member
          ? html`<span class="message-actions">
              <button type="button" class="ghost tiny" tabindex=${tab} aria-label=${`Reply to ${who}, ${when}`} onClick=${() => replyTo(message)}>
                Reply
              </button>
              <button
                type="button"
                class="ghost tiny"
                tabindex=${tab}
                aria-label=${`React to ${who}, ${when}`}
                aria-expanded=${String(picking)}
                onClick=${() => setPicking(!picking)}
              >
                React
              </button>
              ${mine
                ? html`<button type="button" class="ghost tiny" tabindex=${tab} aria-label=${`Edit your message, ${when}`} onClick=${() => startEditing(message.id)}>
                    Edit
                  </button>`
                : null}
              ${deletable
                ? html`<button
                    type="button"
                    class="ghost tiny danger"
                    tabindex=${tab}
                    aria-label=${`Delete message from ${who}, ${when}`}
                    onClick=${remove}
                  >
                    Delete
                  </button>`
                : null}
            </span>`
          : null}
      </header>
      ${preview
        ? html`<blockquote class="quote" dir="auto">
            <span class="quote-sender">${preview.sender.username}: </span>${preview.content}
          </blockquote>`
        : null}
      ${editing
        ? html`<${EditForm} message=${message} />`
        : message.content
          ? html`<div class="content" dir="auto">${content}</div>`
          : null}
      ${message.attachments?.length ? html`<${Attachments} files=${message.attachments} tab=${tab} />` : null}
      ${picking
        ? html`<div class="emoji-picker" role="group" aria-label="Pick a reaction">
            ${QUICK_EMOJI.map(
              (emoji) => html`<button type="button" class="ghost" aria-label=${`React with ${emoji}`} onClick=${() => react(emoji)}>
                ${emoji}
              </button>`,
            )}
          </div>`
        : null}
      ${message.reactions?.length
        ? html`<div class="reactions" role="group" aria-label="Reactions">
            ${message.reactions.map((reaction) => {
              const pressed = reaction.users.some((u) => u.id === myself.id);
              const names = reaction.users.map((u) => u.username).join(", ");
              return html`<button
                key=${reaction.emoji}
                type="button"
                class=${pressed ? "reaction mine" : "reaction"}
                aria-pressed=${String(pressed)}
                aria-label=${`${reaction.emoji} ${reaction.count}: ${names}`}
                title=${names}
                tabindex=${tab}
                disabled=${!room.is_member}
                onClick=${() => react(reaction.emoji)}
              >
                ${reaction.emoji} ${reaction.count}
              </button>`;
            })}
          </div>`
        : null}
      ${problem ? html`<p class="error" role="alert">${problem}</p>` : null}
      ${seenBy ? html`<p class="seen">${seenBy}</p>` : null}
    </article>
  </li>`;
}

/** A message's files: images as thumbnails opening full size, the rest as named links. */
function Attachments({ files, tab }) {
  return html`<ul class="attachments" aria-label="Files">
    ${files.map((file) => {
      const href = client.fileUrl(file.url);
      return html`<li key=${file.id}>
        ${file.thumbnail_url
          ? html`<a class="attachment-image" href=${href} target="_blank" rel="noopener" tabindex=${tab} aria-label=${`${file.name}, image, opens full size`}>
              <img src=${client.fileUrl(file.thumbnail_url)} alt=${file.name} loading="lazy" />
            </a>`
          : html`<a class="attachment-file" href=${href} download=${file.name} tabindex=${tab}>
              <span dir="auto">${file.name}</span> <span class="upload-size">(${formatSize(file.size)})</span>
            </a>`}
      </li>`;
    })}
  </ul>`;
}

function PendingItem({ pending }) {
  return html`<li class="message mine pending">
    <article aria-label="Your message, sending">
      <header class="message-head">
        <span class="sender">${me().username}</span>
        <span class="status">Sending…</span>
      </header>
      <div class="content" dir="auto">${pending.content}</div>
      ${pending.attachments.length
        ? html`<ul class="attachments" aria-label="Files">
            ${pending.attachments.map((id) => {
              const file = fileSending(id);
              return html`<li key=${id} class="attachment-file">
                ${file
                  ? html`<span dir="auto">${file.name}</span> <span class="upload-size">(${formatSize(file.size)})</span>`
                  : "A file"}
              </li>`;
            })}
          </ul>`
        : null}
    </article>
  </li>`;
}

function FailedItem({ failed }) {
  return html`<li class="message mine failed">
    <article aria-label="Your message, not sent">
      <header class="message-head"><span class="sender">${me().username}</span></header>
      <div class="content" dir="auto">${failed.content}</div>
      <p class="error">
        Not sent: ${failed.reason}${" "}
        <button type="button" class="ghost tiny" onClick=${() => dismissFailed(failed)}>Dismiss</button>
      </p>
    </article>
  </li>`;
}

/** Editing one's message in place: Enter saves, Shift+Enter adds a line, Escape cancels. */
function EditForm({ message }) {
  const [text, setText] = useState(message.content);
  const [error, setError] = useState("");
  const box = useRef(null);
  useLayoutEffect(() => {
    const element = box.current;
    element.focus();
    element.setSelectionRange(element.value.length, element.value.length);
  }, []);
  const save = async (event) => {
    event?.preventDefault();
    const content = text.trim();
    if (!content) return setError("A message cannot be empty; delete it instead.");
    if (content === message.content) return stopEditing();
    try {
      await editMessage(message, content);
    } catch (failure) {
      setError(describe(failure));
    }
  };
  const onKeyDown = (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      stopEditing();
      focusComposer();
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      save(event);
    }
  };
  return html`<form class="edit-form" onSubmit=${save}>
    <label class="visually-hidden" for=${`edit-${message.id}`}>Edit your message</label>
    <textarea id=${`edit-${message.id}`} ref=${box} rows="2" dir="auto" value=${text} onInput=${(e) => setText(e.currentTarget.value)} onKeyDown=${onKeyDown}></textarea>
    <p class="error" role="alert">${error}</p>
    <div class="edit-actions">
      <button type="button" class="ghost small" onClick=${() => (stopEditing(), focusComposer())}>Cancel</button>
      <button type="submit" class="primary small">Save</button>
    </div>
  </form>`;
}

function focusComposer() {
  document.getElementById("message-input")?.focus();
  changed();
}

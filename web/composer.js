// The message composer: the text box and its keys (Enter sends, Shift+Enter
// adds a line, Escape cancels a reply), the reply banner, typing signals,
// @mention suggestions from /api/chat/users/, and the list of sends the
// server refused.

import { $, debounce, h, replaceChildren } from "./dom.js";

const MAX_LENGTH = 5000;
const TYPING_REPEAT_MS = 3000;
const TYPING_IDLE_MS = 4000;

export class Composer {
  /**
   * @param {object} hooks
   * @param {import("./confab-client.js").ConfabClient} hooks.client
   * @param {(content: string, replyTo: object|null) => void} hooks.send
   * @param {(isTyping: boolean) => void} hooks.typing
   * @param {() => void} hooks.render  redraws the message list (failed sends)
   */
  constructor({ client, send, typing, render }) {
    this.client = client;
    this.sendMessage = send;
    this.signalTyping = typing;
    this.render = render;
    this.input = $("message-input");
    this.list = $("mention-list");
    this.reply = null;
    this.failed = [];
    this.suggestions = [];
    this.active = -1;
    this.typingSince = 0;
    this.idleTimer = null;
    this.lookup = debounce((prefix) => this.#suggest(prefix), 120);

    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    $("reply-cancel").addEventListener("click", () => this.cancelReply());
    this.input.addEventListener("keydown", (event) => this.#keydown(event));
    this.input.addEventListener("input", () => this.#changed());
    this.input.addEventListener("blur", () => setTimeout(() => this.#closeSuggestions(), 150));
  }

  /** A new room is open: nothing carries over. */
  reset() {
    this.input.value = "";
    this.#resize();
    this.cancelReply({ focus: false });
    this.#closeSuggestions();
    this.#stopTyping();
    $("composer-error").textContent = "";
  }

  replyTo(message) {
    this.reply = message;
    const snippet = message.content.length > 120 ? `${message.content.slice(0, 120)}…` : message.content;
    $("reply-text").textContent = `Replying to ${message.sender.username}: ${snippet}`;
    $("reply-banner").hidden = false;
    this.input.focus();
  }

  cancelReply({ focus = true } = {}) {
    this.reply = null;
    $("reply-banner").hidden = true;
    if (focus) this.input.focus();
  }

  submit() {
    const content = this.input.value.trim();
    const error = $("composer-error");
    if (!content) return;
    if (content.length > MAX_LENGTH) {
      error.textContent = `Messages are limited to ${MAX_LENGTH} characters (this one has ${content.length}).`;
      return;
    }
    error.textContent = "";
    this.sendMessage(content, this.reply);
    this.input.value = "";
    this.#resize();
    this.cancelReply({ focus: false });
    this.#closeSuggestions();
    this.#stopTyping();
    this.input.focus();
  }

  /** Records a send the server refused, shown under the messages until dismissed. */
  fail(roomId, content, reason) {
    this.failed.push({ roomId, content, reason });
  }

  dismiss(failed) {
    this.failed = this.failed.filter((entry) => entry !== failed);
    this.render();
  }

  #keydown(event) {
    if (!this.list.hidden && this.suggestions.length) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        this.#highlight((this.active + step + this.suggestions.length) % this.suggestions.length);
        return;
      }
      if ((event.key === "Enter" || event.key === "Tab") && this.active >= 0) {
        event.preventDefault();
        this.#choose(this.suggestions[this.active]);
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        this.#closeSuggestions();
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.submit();
    } else if (event.key === "Escape" && this.reply) {
      event.preventDefault();
      this.cancelReply();
    }
  }

  #changed() {
    this.#resize();
    this.#startTyping();
    const prefix = this.#mentionPrefix();
    if (prefix === null) this.#closeSuggestions();
    else this.lookup(prefix);
  }

  #resize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  // Typing: "true" when typing starts and every few seconds while it goes
  // on, "false" after a pause or on send, so others' indicators expire.
  #startTyping() {
    const now = Date.now();
    if (now - this.typingSince > TYPING_REPEAT_MS) {
      this.typingSince = now;
      this.signalTyping(true);
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.#stopTyping(), TYPING_IDLE_MS);
  }

  #stopTyping() {
    clearTimeout(this.idleTimer);
    if (this.typingSince) this.signalTyping(false);
    this.typingSince = 0;
  }

  /** The word being typed at the caret, when it starts with "@". */
  #mentionPrefix() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const match = /(?:^|\s)@([\w.+-]*)$/u.exec(before);
    return match ? match[1] : null;
  }

  async #suggest(prefix) {
    try {
      const page = await this.client.users(prefix);
      if (this.#mentionPrefix() !== prefix) return;
      const myId = this.client.user?.id;
      this.suggestions = page.results.filter((user) => user.id !== myId).slice(0, 8);
    } catch {
      this.suggestions = [];
    }
    if (!this.suggestions.length) return this.#closeSuggestions();
    replaceChildren(
      this.list,
      this.suggestions.map((user, index) =>
        h(
          "li",
          {
            id: `mention-${user.id}`,
            role: "option",
            "aria-selected": "false",
            onmousedown: (event) => {
              event.preventDefault();
              this.#choose(this.suggestions[index]);
            },
          },
          `@${user.username}`,
        ),
      ),
    );
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.#highlight(0);
  }

  #highlight(index) {
    this.active = index;
    [...this.list.children].forEach((item, i) => item.setAttribute("aria-selected", String(i === index)));
    const chosen = this.list.children[index];
    if (chosen) this.input.setAttribute("aria-activedescendant", chosen.id);
  }

  #choose(user) {
    const caret = this.input.selectionStart;
    const before = this.input.value.slice(0, caret).replace(/@([\w.+-]*)$/u, `@${user.username} `);
    this.input.value = before + this.input.value.slice(caret);
    this.input.setSelectionRange(before.length, before.length);
    this.#closeSuggestions();
    this.input.focus();
  }

  #closeSuggestions() {
    this.suggestions = [];
    this.active = -1;
    this.list.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }
}

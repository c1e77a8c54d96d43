// DOM helpers for the web client. User content only ever reaches the page
// as text nodes (never innerHTML), so no message, name or description can
// inject markup.

/** `$("id")`: the element with that id. */
export const $ = (id) => document.getElementById(id);

/**
 * Builds an element: `h("button", { type: "button", onclick }, "Reply")`.
 * Attributes starting with "on" become listeners; `false`/`null` skip the
 * attribute; children are nodes or strings (added as text).
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "className") element.className = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replaceChildren(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/** Message text with `@name` mentions highlighted; text nodes only. */
export function messageText(content, myUsername) {
  const parts = [];
  const pattern = /@([\w.+-]+)/gu;
  let last = 0;
  for (const match of content.matchAll(pattern)) {
    if (match.index > last) parts.push(content.slice(last, match.index));
    const mine = myUsername && match[1].toLowerCase() === myUsername.toLowerCase();
    parts.push(h("span", { className: mine ? "mention mention-me" : "mention" }, match[0]));
    last = match.index + match[0].length;
  }
  if (last < content.length) parts.push(content.slice(last));
  return parts;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

/** A `<time>`: the clock time today, the date too before that. */
export function timeElement(iso) {
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return h("time", { datetime: iso, title: date.toLocaleString() }, (today ? timeFormat : dateTimeFormat).format(date));
}

/** Runs `fn` once `ms` after the last call. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/**
 * Arms a destructive button: the first press relabels it "Confirm ..." for
 * a few seconds, the second runs `action`. No modal dialog, keyboard-friendly.
 */
export function confirmButton(button, label, confirmLabel, action) {
  let armed = false;
  let timer = null;
  button.textContent = label;
  button.addEventListener("click", () => {
    if (!armed) {
      armed = true;
      button.textContent = confirmLabel;
      button.classList.add("armed");
      timer = setTimeout(disarm, 4000);
      return;
    }
    disarm();
    action();
  });
  function disarm() {
    clearTimeout(timer);
    armed = false;
    button.textContent = label;
    button.classList.remove("armed");
  }
  return disarm;
}

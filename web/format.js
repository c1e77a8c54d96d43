// Message text as it is shown: ```code blocks```, `inline code`, links and
// @mentions. Everything becomes Preact vnodes whose text is set as text, so
// no message can inject markup; links are only ever http(s).

import { html } from "./html.js";

const BLOCK = /```(?:[\w+-]*\n)?([\s\S]*?)```/g;
const INLINE = /(`[^`\n]+`)|(https?:\/\/[^\s<>"']+)|(@[\w.+-]+)/gu;
// Punctuation that ends a sentence more often than a URL.
const URL_TAIL = /[.,;:!?)\]}'"]+$/;

/** The vnodes of a message's content; `me` is the viewer's username (their mentions stand out). */
export function formatContent(content, me) {
  const parts = [];
  let last = 0;
  for (const match of content.matchAll(BLOCK)) {
    if (match.index > last) parts.push(...inline(content.slice(last, match.index), me));
    parts.push(html`<pre class="code-block"><code>${match[1].replace(/\n$/, "")}</code></pre>`);
    last = match.index + match[0].length;
  }
  if (last < content.length) parts.push(...inline(content.slice(last), me));
  return parts;
}

function inline(text, me) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    const [whole, code, url, mention] = match;
    let end = match.index + whole.length;
    if (match.index > last) parts.push(text.slice(last, match.index));
    if (code) {
      parts.push(html`<code>${code.slice(1, -1)}</code>`);
    } else if (url) {
      const href = url.replace(URL_TAIL, "");
      end = match.index + href.length;
      parts.push(html`<a href=${href} target="_blank" rel="noopener noreferrer nofollow ugc">${href}</a>`);
    } else if (mention) {
      const mine = me && mention.slice(1).toLowerCase() === me.toLowerCase();
      parts.push(html`<span class=${mine ? "mention mention-me" : "mention"}>${mention}</span>`);
    }
    last = end;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/** The usernames a message mentions, lower-cased, outside code. */
export function mentionedNames(content) {
  const prose = content.replace(BLOCK, " ").replace(/`[^`\n]+`/g, " ");
  return new Set([...prose.matchAll(/(?:^|[^\w.+-])@([\w.+-]+)/gu)].map((m) => m[1].toLowerCase()));
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" });
const yearDayFormat = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "long", day: "numeric" });

/** "14:05". */
export const clock = (iso) => timeFormat.format(new Date(iso));

/** A day's heading: "Today", "Yesterday", "Friday, November 27", or with the year when not this year. */
export function dayLabel(iso) {
  const date = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today);
  yesterday.setDate(today.getDate() - 1);
  if (date.toDateString() === today.toDateString()) return "Today";
  if (date.toDateString() === yesterday.toDateString()) return "Yesterday";
  return (date.getFullYear() === today.getFullYear() ? dayFormat : yearDayFormat).format(date);
}

/** The local calendar day of a timestamp, for grouping. */
export const dayKey = (iso) => new Date(iso).toDateString();

/** A byte count as people read it: 512 B, 14 KB, 3.2 MB. */
export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

// Notifications: the top bar's button with the unread count, and the panel
// listing them (open one to go to its room; mark read; desktop
// notifications, asked for only when the user presses the button for it).

import { html, useLayoutEffect, useRef, useState } from "./html.js";
import { navigateTo, readAllNotifications, readNotification, refreshRoom, state, togglePanel } from "./store.js";

export function NotificationsButton() {
  const unread = state.unreadNotifications;
  return html`<button
    id="notifications-button"
    type="button"
    class="ghost"
    aria-expanded=${String(state.panel === "notifications")}
    aria-controls="notifications-panel"
    aria-label=${unread ? `Notifications, ${unread} unread` : "Notifications"}
    onClick=${() => togglePanel("notifications")}
  >
    Notifications${unread ? html` <span class="badge" aria-hidden="true">${unread}</span>` : null}
  </button>`;
}

export function NotificationsPanel() {
  const closeButton = useRef(null);
  const [permission, setPermission] = useState(globalThis.Notification?.permission ?? "unsupported");
  useLayoutEffect(() => {
    closeButton.current?.focus();
    return () => document.getElementById("notifications-button")?.focus();
  }, []);
  const open = (notification) => {
    readNotification(notification);
    if (!notification.room) return;
    togglePanel("notifications", false);
    if (!state.rooms.has(notification.room)) refreshRoom(notification.room);
    navigateTo(notification.room);
  };
  const askPermission = async () => setPermission(await Notification.requestPermission());
  return html`<section id="notifications-panel" class="panel notifications-panel" aria-labelledby="notifications-title">
    <div class="panel-head">
      <h2 id="notifications-title">Notifications</h2>
      <button type="button" class="ghost small" onClick=${readAllNotifications}>Mark all read</button>
      <button ref=${closeButton} type="button" class="ghost small" aria-label="Close notifications" onClick=${() => togglePanel("notifications", false)}>
        ✕
      </button>
    </div>
    ${permission === "default"
      ? html`<p class="desktop-ask">
          <button type="button" class="ghost small" onClick=${askPermission}>Show mentions as desktop notifications</button>
        </p>`
      : null}
    <ul class="notification-list">
      ${state.notifications.map(
        (notification) => html`<li key=${notification.id} class=${notification.is_read ? "notification" : "notification unread"}>
          <button type="button" class="notification-open" onClick=${() => open(notification)}>
            <span class="notification-title" dir="auto">${notification.is_read ? "" : html`<span class="visually-hidden">Unread: </span>`}${notification.title}</span>
            <span class="notification-content" dir="auto">${notification.content}</span>
            <time datetime=${notification.created_at}>${new Date(notification.created_at).toLocaleString()}</time>
          </button>
          ${notification.is_read
            ? null
            : html`<button type="button" class="ghost tiny" aria-label=${`Mark read: ${notification.title}`} onClick=${() => readNotification(notification)}>
                Mark read
              </button>`}
        </li>`,
      )}
    </ul>
    ${state.notifications.length === 0 ? html`<p class="muted empty-note">Nothing new.</p>` : null}
  </section>`;
}

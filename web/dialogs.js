// Modal dialogs on the native <dialog> (focus trap, Escape and the top layer
// come from the browser): the confirmation asked before anything
// destructive, and a wrapper the forms use. Focus goes back to whatever had
// it when the dialog opened, or to `[data-focus-fallback]` when that is gone.
//
// Focus moves in layout effects, which run as the DOM is committed: plain
// effects wait for the next frame (longer in a background tab) and would
// pull focus back after the user has already moved on.

import { html, useLayoutEffect, useRef } from "./html.js";
import { settleConfirmation, state } from "./store.js";

/** Where focus goes when its element is gone (a deleted message's button): the composer, else the room search. */
function focusFallback() {
  return [...document.querySelectorAll("[data-focus-fallback]")].filter((element) => element.offsetParent !== null).at(-1);
}

/** A modal dialog that is open while mounted; `onClose` runs on Escape. */
export function Modal({ labelledBy, describedBy, role, onClose, className = "", children }) {
  const dialog = useRef(null);
  useLayoutEffect(() => {
    const opener = document.activeElement;
    const element = dialog.current;
    element.showModal();
    return () => {
      element.close();
      (opener?.isConnected ? opener : focusFallback())?.focus?.();
    };
  }, []);
  const cancel = (event) => {
    event.preventDefault();
    onClose();
  };
  return html`<dialog
    ref=${dialog}
    role=${role}
    class=${className}
    aria-modal="true"
    aria-labelledby=${labelledBy}
    aria-describedby=${describedBy}
    onCancel=${cancel}
  >
    ${children}
  </dialog>`;
}

/** The confirmation in `state.confirmation`: Cancel has focus, so Enter never destroys by accident. */
export function ConfirmDialog() {
  const confirmation = state.confirmation;
  const cancelButton = useRef(null);
  useLayoutEffect(() => cancelButton.current?.focus(), [confirmation]);
  if (!confirmation) return null;
  const { title, body, action, error, busy } = confirmation;
  return html`<${Modal}
    role="alertdialog"
    labelledBy="confirm-title"
    describedBy="confirm-body"
    onClose=${() => settleConfirmation(false)}
  >
    <div class="card dialog-card">
      <h2 id="confirm-title">${title}</h2>
      <div id="confirm-body" class="confirm-body">${body}</div>
      <p class="error" role="alert">${error}</p>
      <div class="actions">
        <button ref=${cancelButton} type="button" class="ghost" onClick=${() => settleConfirmation(false)}>Cancel</button>
        <button type="button" class="danger-solid" disabled=${busy} onClick=${() => settleConfirmation(true)}>
          ${action}
        </button>
      </div>
    </div>
  <//>`;
}

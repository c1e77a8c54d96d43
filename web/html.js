// Preact with htm: components written as tagged templates, no build step.
// The modules are vendored in web/vendor/ (see its README) and named by the
// import map in index.html.

import { h } from "preact";
import htm from "htm";

export { Fragment, render } from "preact";
export { useEffect, useLayoutEffect, useMemo, useRef, useState, useCallback } from "preact/hooks";

/** `html\`<p class="x">${text}</p>\``: text in `${}` is always set as text, never parsed as markup. */
export const html = htm.bind(h);

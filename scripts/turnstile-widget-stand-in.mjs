/**
 * A stand-in for Cloudflare Turnstile's widget script (`api.js`), served by the siteverify stand-in
 * (scripts/siteverify-server.mjs) at `GET /turnstile/v0/api.js`, for browser tests that cannot load
 * Cloudflare's real script offline. It implements the part of the documented client API the
 * service's pages use: `window.turnstile.render(element | selector, { sitekey, callback,
 * "expired-callback", "error-callback" })` → widget id, `reset(id?)`, `getResponse(id?)`,
 * `remove(id?)`, and the `onload=<global function>` query parameter of explicit rendering. Like the
 * real widget it draws an iframe from its own origin (so the page's `frame-src` is exercised) and
 * hands the page a token that siteverify will accept: each served script carries tokens the
 * stand-in issued for it; each render or reset passes the next one to `callback`. A `sitekey` other
 * than the stand-in's calls `error-callback` instead, as the real widget does for an unknown key.
 *
 * @example
 * // in the stand-in: reply(200, widgetScript({ origin, siteKey, tokens }), "text/javascript")
 */

/**
 * The script text. `origin`: the stand-in's origin (for the iframe); `siteKey`: the only site key it
 * accepts; `tokens`: the tokens it hands out, in order (an exhausted list calls `error-callback`).
 * @param {{ origin: string, siteKey: string, tokens: string[] }} input
 */
export function widgetScript({ origin, siteKey, tokens }) {
  return `"use strict";
(() => {
  const origin = ${JSON.stringify(origin)};
  const siteKey = ${JSON.stringify(siteKey)};
  const tokens = ${JSON.stringify(tokens)};
  const widgets = new Map();
  let count = 0;
  const widgetOf = (id) => widgets.get(id ?? [...widgets.keys()][0]);
  function solve(widget) {
    widget.response = "";
    if (widget.options.sitekey !== siteKey) return setTimeout(() => widget.options["error-callback"]?.("110100"), 0);
    const token = tokens.shift();
    if (!token) return setTimeout(() => widget.options["error-callback"]?.("300030"), 0);
    setTimeout(() => {
      widget.response = token;
      widget.options.callback?.(token);
    }, 20);
  }
  window.turnstile = {
    render(target, options) {
      const container = typeof target === "string" ? document.querySelector(target) : target;
      if (!container) throw new Error("turnstile stand-in: no element to render in");
      const frame = document.createElement("iframe");
      frame.src = origin + "/turnstile/v0/widget";
      frame.title = "Widget containing a Cloudflare security challenge (stand-in)";
      frame.width = "300";
      frame.height = "65";
      frame.style.border = "0";
      container.appendChild(frame);
      const id = "stand-in-" + ++count;
      const widget = { options, frame, response: "" };
      widgets.set(id, widget);
      solve(widget);
      return id;
    },
    reset(id) {
      const widget = widgetOf(id);
      if (widget) solve(widget);
    },
    getResponse(id) {
      return widgetOf(id)?.response;
    },
    remove(id) {
      const key = id ?? [...widgets.keys()][0];
      widgets.get(key)?.frame.remove();
      widgets.delete(key);
    },
  };
  const onload = document.currentScript && new URL(document.currentScript.src).searchParams.get("onload");
  if (onload && typeof window[onload] === "function") window[onload]();
})();
`;
}

/** The iframe's page: what the widget shows while it works. */
export const WIDGET_FRAME = `<!doctype html><meta charset="utf-8"><title>Turnstile stand-in</title><body style="margin:0;font:14px system-ui">Success! (stand-in)</body>`;

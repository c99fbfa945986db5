/**
 * The console script's user page (browser JavaScript, kept as text; see ./index.ts): the user's
 * profile, second factor, sessions, identities, passkeys and latest activity from
 * GET /v1/admin/users/:id, and the actions "Disable" or "Enable", "Revoke sessions", "Reset second
 * factor" and "Delete" (the last two only after "Confirm" in the dialog). After each action the
 * page reads the user again, so what it shows is what the service holds.
 *
 * @example
 * location.hash = "#/users/6f1c…"; // that user's page
 */
export const USER = String.raw`
const ACTIVITY_NAMES = {
  sign_in: "Signed in", sign_in_failed: "Sign-in failed", sign_out: "Signed out", session_revoked: "Session revoked",
  refresh_reuse_detected: "Refresh token reuse detected", password_changed: "Password changed", password_reset: "Password reset",
  email_verified: "Email verified", email_change_requested: "Email change requested", email_changed: "Email changed",
  upgraded: "Guest upgraded", passkey_added: "Passkey added", passkey_removed: "Passkey removed",
  identity_linked: "Identity linked", identity_unlinked: "Identity unlinked", account_disabled: "Account disabled",
  account_enabled: "Account enabled", mfa_enabled: "Second factor on", mfa_disabled: "Second factor off",
  mfa_failed: "Second factor failed", recovery_code_used: "Recovery code used", recovery_codes_regenerated: "Recovery codes renewed",
};
const METHOD_NAMES = { password: "password", code: "email code", passkey: "passkey", id_token: "ID token", oauth: "OAuth", guest: "guest" };

const fact = (term, ...value) => [el("dt", { text: term }), el("dd", {}, ...value)];
const section = (title, count, ...body) =>
  el("section", { class: "card", "aria-label": title },
    el("h2", {}, title, count === null ? null : el("span", { class: "count", text: String(count) })), ...body);
const items = (rows, empty, draw) => (rows.length === 0 ? el("p", { class: "empty", text: empty }) : el("ul", { class: "list" }, rows.map((row) => el("li", {}, draw(row)))));
const where = (ip, agent) => [ip ? "IP " + ip : null, agent].filter(Boolean).join(" · ");

function secondFactor(user) {
  if (user.mfaEnabled === true) return [badge("On", "ok"), " Authenticator app (TOTP) with recovery codes."];
  if (user.mfaEnabled === false) return [badge("Off"), " No second factor."];
  return [el("span", { class: "muted", text: "Not reported by this service." })];
}

function drawUser(detail) {
  const user = detail.user;
  const busy = [];
  const action = (label, tone, run) => {
    const button = el("button", { type: "button", class: tone, text: label });
    button.addEventListener("click", async () => {
      for (const b of busy) b.disabled = true;
      try {
        await run();
      } catch (error) {
        fail(error);
        for (const b of busy) b.disabled = b.dataset.off === "1";
      }
    });
    busy.push(button);
    return button;
  };
  const path = "/v1/admin/users/" + encodeURIComponent(user.id);
  const name = userName(user);
  const done = async (message) => {
    say(message, "success", true);
    await renderUser(user.id, true);
  };

  const toggle = user.disabled
    ? action("Enable", "secondary", async () => {
        await api("POST", path + "/enable");
        await done(name + " is enabled and can sign in again.");
      })
    : action("Disable", "secondary", async () => {
        await api("POST", path + "/disable");
        await done(name + " is disabled: every session ended, and every sign-in is refused.");
      });
  const revoke = action("Revoke sessions", "secondary", async () => {
    await api("POST", path + "/revoke-sessions");
    await done("Every session of " + name + " has ended.");
  });
  const reset = action("Reset second factor", "secondary", async () => {
    if (!(await confirmAction("Reset the second factor?", "This removes the authenticator app and every recovery code of " + name + ". They will sign in with their first factor alone until they set up a new one."))) {
      for (const b of busy) b.disabled = b.dataset.off === "1";
      return;
    }
    await api("DELETE", path + "/mfa");
    await done("The second factor of " + name + " is removed.");
  });
  if (user.mfaEnabled !== true) {
    reset.disabled = true;
    reset.dataset.off = "1";
    reset.title = "This user has no second factor";
  }
  const remove = action("Delete", "danger", async () => {
    if (!(await confirmAction("Delete this user?", "This deletes " + name + " with every session, identity, passkey and activity record. It cannot be undone."))) {
      for (const b of busy) b.disabled = b.dataset.off === "1";
      return;
    }
    await api("DELETE", path);
    search.users = search.users.filter((u) => u.id !== user.id);
    flash = { text: name + " was deleted.", kind: "success" };
    location.hash = "#/users";
  });

  const badges = [user.disabled ? badge("Disabled", "bad") : badge("Active", "ok")];
  if (user.isGuest) badges.push(badge("Guest"));
  if (user.mfaEnabled) badges.push(badge("2FA", "info"));

  const profile = section("Profile", null, el("dl", { class: "facts" },
    fact("User id", el("span", { class: "mono", text: user.id })),
    fact("Email", user.email ? user.email : el("span", { class: "muted", text: "none" }), " ", user.email ? (user.emailVerified ? badge("Verified", "ok") : badge("Unverified", "warn")) : null),
    fact("Username", user.username ? user.username : el("span", { class: "muted", text: "none" })),
    fact("Account", user.isGuest ? "Guest" : "Full account"),
    fact("Password", user.hasPassword ? "Set" : "None"),
    fact("Created", time(user.createdAt)),
    fact("Last sign-in", time(user.lastSignInAt))));

  const sessions = section("Sessions", detail.sessions.length, items(detail.sessions, "No live sessions.", (s) => [
    el("div", { class: "line" }, el("strong", { text: s.userAgent || "Unknown client" })),
    el("div", { class: "meta-line" }, s.ipAddress ? "IP " + s.ipAddress + " · " : "", "Started ", time(s.createdAt), " · last used ", time(s.lastUsedAt), " · expires ", time(s.expiresAt)),
    el("div", { class: "meta-line mono", text: s.id }),
  ]));
  const identities = section("Identities", detail.identities.length, items(detail.identities, "No linked identities.", (i) => [
    el("div", { class: "line" }, el("strong", { text: i.provider }), i.email ? el("span", { text: i.email }) : null),
    el("div", { class: "meta-line" }, "Linked ", time(i.createdAt)),
  ]));
  const passkeys = section("Passkeys", detail.passkeys.length, items(detail.passkeys, "No passkeys.", (p) => [
    el("div", { class: "line" }, el("strong", { text: p.name }), p.backedUp ? badge("Synced", "info") : badge("Device-bound")),
    el("div", { class: "meta-line" }, "Added ", time(p.createdAt), " · ", p.lastUsedAt ? ["last used ", time(p.lastUsedAt)] : "not used yet"),
  ]));
  const activity = detail.activity || [];
  const latest = section("Latest activity", null, items(activity, "No activity recorded.", (e) => [
    el("div", { class: "line" }, el("strong", { text: (ACTIVITY_NAMES[e.type] || e.type) + (e.method ? " (" + (METHOD_NAMES[e.method] || e.method) + ")" : "") }), time(e.createdAt)),
    where(e.ipAddress, e.userAgent) ? el("div", { class: "meta-line", text: where(e.ipAddress, e.userAgent) }) : null,
  ]));

  view.replaceChildren(
    el("a", { class: "back", href: "#/users", text: "← All users" }),
    el("div", { class: "head" },
      el("div", {}, el("h1", { text: name }), el("div", { class: "badges" }, badges)),
      el("div", { class: "actions", role: "group", "aria-label": "Actions" }, toggle, revoke, reset, remove)),
    el("div", { class: "grid" },
      el("div", {}, profile, section("Second factor", null, el("p", { class: "line" }, secondFactor(user)))),
      el("div", {}, passkeys, identities)),
    sessions,
    latest,
  );
}

async function renderUser(id, keepStatus) {
  setNav("users");
  const mine = generation;
  if (!keepStatus) loading();
  try {
    const detail = await api("GET", "/v1/admin/users/" + encodeURIComponent(id));
    if (mine === generation) drawUser(detail);
  } catch (error) {
    if (mine !== generation || error.status === 401) return;
    view.replaceChildren(el("a", { class: "back", href: "#/users", text: "← All users" }), el("p", { class: "empty", text: describe(error) }));
  }
}
`;

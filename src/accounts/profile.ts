/**
 * Editing a full account's profile (API.md §9, `PATCH /v1/auth/me`): its username and picture.
 * A picture is an https URL, null (removed), or an uploaded image stored in R2 (src/accounts/avatars.ts);
 * a replaced or removed upload is deleted from R2 once the change is stored.
 *
 * @example
 * import { updateProfile } from "./profile";
 * const user = await updateProfile(deps, auth, { username: "ada.l", profilePicture: null });
 */
import { changeUser } from "./change-user";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { previousChanged, publish, userEvent } from "../events";
import type { Deps } from "../http/deps";
import { AuthError } from "../http/errors";
import type { Auth } from "../sessions";
import { deleteUploadedAvatar, profilePicture } from "./avatars";
import { users } from "./schema";
import type { UserRow } from "./schema";
import { normalizeUsername } from "./users";

export interface ProfileInput {
  username?: string | undefined;
  /** Left out: unchanged; null or "": removed; a string: an https URL; a File: an upload. */
  profilePicture?: string | File | null | undefined;
}

/**
 * Applies the given fields and returns the updated row. 403 `forbidden` for a guest (it has no
 * profile until upgraded), 409 `conflict` for a username another account has, 400 for a bad
 * picture, 413 for an upload past UPLOAD_LIMIT_BYTES.
 */
export async function updateProfile(deps: Deps, auth: Auth, input: ProfileInput): Promise<UserRow> {
  if (auth.user.isGuest) throw new AuthError("forbidden", "A guest has no profile; upgrade the account first");
  const changes: Partial<UserRow> = {};
  if (input.username !== undefined) {
    changes.username = input.username.trim();
    changes.usernameNormalized = normalizeUsername(input.username);
  }
  if (input.profilePicture !== undefined) changes.profilePicture = await profilePicture(deps, input.profilePicture, auth.userId);
  const uploaded = input.profilePicture instanceof File ? changes.profilePicture : null;
  if (Object.keys(changes).length === 0) return auth.user;

  const db = drizzle(deps.env.DB);
  let updated: UserRow | undefined;
  const now = Date.now();
  const event = userEvent(db, "user.updated", auth.userId, { at: now, onlyIf: previousChanged });
  try {
    [[updated]] = await changeUser(deps, auth.userId, () => db.batch([db.update(users).set({ ...changes, updatedAt: now }).where(eq(users.id, auth.userId)).returning(), event.statement]));
  } catch (error) {
    await deleteUploadedAvatar(deps, uploaded, auth.userId);
    let text = "";
    for (let e: unknown = error; e instanceof Error; e = e.cause) text += ` ${e.message}`;
    if (text.includes("username_normalized")) {
      throw new AuthError("conflict", "The username is already taken", [{ field: "username", message: "is already taken" }]);
    }
    throw error;
  }
  if (!updated) {
    await deleteUploadedAvatar(deps, uploaded, auth.userId);
    throw new AuthError("invalid_token", "The session has ended");
  }
  publish(deps, event);
  if (changes.profilePicture !== undefined && auth.user.profilePicture !== updated.profilePicture) {
    // The old upload is no one's any more; an outside URL, or another user's upload, is left alone.
    deps.waitUntil(deleteUploadedAvatar(deps, auth.user.profilePicture, auth.userId).catch(() => undefined));
  }
  return updated;
}

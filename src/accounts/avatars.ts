/**
 * Profile pictures: an https URL kept as given, or an uploaded image stored in R2 and served by the
 * service at `/v1/auth/avatars/:key`. Uploads are at most UPLOAD_LIMIT_BYTES and must be PNG, JPEG,
 * GIF or WebP by their magic bytes: the declared type is never trusted.
 *
 * Each upload records who uploaded it (R2 custom metadata `owner`: the user id, written with the
 * object and never changed). A user may point their picture at any https URL, another user's
 * upload included, but only their own uploads are ever deleted: replacing, removing or deleting
 * the account deletes the old picture only when its object's `owner` is that user.
 *
 * @example
 * import { deleteUploadedAvatar, profilePicture } from "./avatars";
 * const url = await profilePicture(deps, formFileOrUrl, userId); // string | null
 * await deleteUploadedAvatar(deps, oldUrl, userId); // a no-op for anyone else's object
 */
import type { Deps } from "../http/deps";
import { AuthError, invalidRequest } from "../http/errors";
import { serviceBase } from "../mail/links";

const SIGNATURES: { type: string; ext: string; test: (b: Uint8Array) => boolean }[] = [
  { type: "image/png", ext: "png", test: (b) => [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((v, i) => b[i] === v) },
  { type: "image/jpeg", ext: "jpg", test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { type: "image/gif", ext: "gif", test: (b) => String.fromCharCode(...b.subarray(0, 6)) === "GIF89a" || String.fromCharCode(...b.subarray(0, 6)) === "GIF87a" },
  {
    type: "image/webp",
    ext: "webp",
    test: (b) => String.fromCharCode(...b.subarray(0, 4)) === "RIFF" && String.fromCharCode(...b.subarray(8, 12)) === "WEBP",
  },
];

export const AVATAR_KEY = /^[0-9a-f-]{36}\.(png|jpg|gif|webp)$/;

export function sniffImage(bytes: Uint8Array) {
  return SIGNATURES.find((s) => s.test(bytes)) ?? null;
}

export function checkPictureUrl(value: string): string {
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    url = null;
  }
  if (!url || url.protocol !== "https:" || url.username || url.password || value.length > 2048) {
    throw invalidRequest("profilePicture", "must be an https URL or an image file");
  }
  return url.href;
}

/** Resolves the profilePicture input to the URL stored on the user, storing uploads in R2 as `ownerId`'s. */
export async function profilePicture(deps: Deps, input: string | File | undefined | null, ownerId: string): Promise<string | null> {
  if (input === undefined || input === null || input === "") return null;
  if (typeof input === "string") return checkPictureUrl(input);
  if (input.size > deps.config.uploadLimitBytes) {
    throw new AuthError("payload_too_large", `The image must be at most ${deps.config.uploadLimitBytes} bytes`);
  }
  const bytes = new Uint8Array(await input.arrayBuffer());
  const kind = sniffImage(bytes);
  if (!kind) throw invalidRequest("profilePicture", "must be a PNG, JPEG, GIF or WebP image");
  const key = `${crypto.randomUUID()}.${kind.ext}`;
  await deps.env.AVATARS.put(key, bytes, { httpMetadata: { contentType: kind.type }, customMetadata: { owner: ownerId } });
  return `${serviceBase(deps.config, deps.origin)}/v1/auth/avatars/${key}`;
}

export async function readAvatar(env: Env, key: string): Promise<{ body: ReadableStream; type: string } | null> {
  if (!AVATAR_KEY.test(key)) return null;
  const object = await env.AVATARS.get(key);
  if (!object) return null;
  return { body: object.body, type: object.httpMetadata?.contentType ?? "application/octet-stream" };
}

/** The R2 key of a picture the service stored itself, or null for an outside URL (or none). */
export function uploadedAvatarKey(deps: Pick<Deps, "config" | "origin">, url: string | null | undefined): string | null {
  if (!url) return null;
  const prefix = `${serviceBase(deps.config, deps.origin)}/v1/auth/avatars/`;
  if (!url.startsWith(prefix)) return null;
  const key = url.slice(prefix.length);
  return AVATAR_KEY.test(key) ? key : null;
}

/**
 * Deletes an uploaded picture from R2 when `ownerId` uploaded it; outside URLs, other users' uploads
 * and uploads that record no owner are left alone.
 */
export async function deleteUploadedAvatar(deps: Deps, url: string | null | undefined, ownerId: string): Promise<void> {
  const key = uploadedAvatarKey(deps, url);
  if (!key) return;
  const object = await deps.env.AVATARS.head(key);
  if (object?.customMetadata?.owner === ownerId) await deps.env.AVATARS.delete(key);
}

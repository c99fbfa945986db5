/**
 * Every `/v1/auth` route the client wraps, one declarative line each: method, path, whether it
 * needs the Bearer token, whether its answer is a TokenPair to adopt. Input and output types come
 * from the zod schemas the service validates with (src/routes/schemas.ts and, for API.md §9,
 * src/routes/lifecycle-schemas.ts), as TYPE-ONLY imports: no zod code reaches the bundle and there
 * is no second copy of the shapes.
 *
 * Adding a route is one line, e.g.:
 *   deleteAccount: route<In<typeof L.PasswordBody>, void>("DELETE", "/me", { auth: true, signsOut: true }),
 *
 * @example
 * import { routes } from "./routes";
 * routes.login; // { method: "POST", path: "/login", auth: false, signsIn: true }
 */
import type { z } from "@hono/zod-openapi";
import type * as L from "../../src/routes/lifecycle-schemas";
import type * as S from "../../src/routes/schemas";

/** What the route accepts (before the service's own transforms: `z.input`). */
export type In<T extends z.ZodType> = z.input<T>;
/** What the route answers (`z.output`). */
export type Out<T extends z.ZodType> = z.output<T>;

/** API.md §3 `User`. */
export type User = Out<typeof S.User>;
/** API.md §3 `TokenPair`. */
export type TokenPair = Out<typeof S.TokenPair>;
/** One entry of `GET /v1/auth/sessions`. */
export type SessionInfo = Out<typeof S.Session>;
/** One entry of `GET /v1/auth/activity` (API.md §9). */
export type ActivityEvent = Out<typeof L.ActivityEvent>;
/** `GET /v1/auth/activity`: one page, newest first; pass `nextCursor` as `before` for the next. */
export type ActivityPage = Out<typeof L.ActivityPage>;
/**
 * `GET /v1/auth/activity`'s query. `limit` is `z.coerce.number()` in the schema (a query string is
 * text), whose input type is `unknown`; the client sends a number.
 */
export type ActivityQuery = Omit<In<typeof L.ActivityQuery>, "limit"> & { limit?: number };
/** `POST /register`: the account, and the TokenPair fields too when verification is off. */
export type RegisterResult = Partial<TokenPair> & { user: User; verificationRequired: boolean };

type HttpMethod = "GET" | "POST" | "PATCH" | "DELETE";

/**
 * One route. `I` and `O` exist only for the type checker. A `:name` in `path` is filled from the
 * input's field of that name; the other fields are the JSON body (the query string for GET; fields
 * left undefined are not sent). A route whose input has no required field may be called without one.
 */
export interface Route<I, O> {
  readonly method: HttpMethod;
  readonly path: string;
  /** Sends the access token (refreshing first when needed; one retry after a 401 invalid_token). */
  readonly auth: boolean;
  /** The answer carries a TokenPair the client adopts as its session. */
  readonly signsIn: boolean;
  /** Success ends the session locally (its tokens no longer work). */
  readonly signsOut: boolean;
  readonly types?: { input: I; output: O };
}

function route<I = void, O = void>(
  method: HttpMethod,
  path: string,
  flags: { auth?: boolean; signsIn?: boolean; signsOut?: boolean } = {},
): Route<I, O> {
  return { method, path, auth: flags.auth ?? false, signsIn: flags.signsIn ?? false, signsOut: flags.signsOut ?? false };
}

/** The routes answering `{ user }` (v1.ts's UserBody, built from the same User schema). */
type UserAnswer = { user: User };
/** The "accepted" answers of the mail-sending routes. */
type Message = { message: string };

/**
 * The table the client's methods are generated from (API.md §3). `refresh`, `logout` and
 * `logoutAll` are written by hand in index.ts: they work on the stored session, not on input.
 */
export const routes = {
  guest: route<void, TokenPair>("POST", "/guest", { signsIn: true }),
  register: route<In<typeof S.RegisterBody>, RegisterResult>("POST", "/register", { signsIn: true }),
  verifyEmail: route<In<typeof S.TokenBody>, UserAnswer>("POST", "/verify-email"),
  resendVerification: route<In<typeof S.EmailBody>, Message>("POST", "/resend-verification"),
  login: route<In<typeof S.LoginBody>, TokenPair>("POST", "/login", { signsIn: true }),
  upgrade: route<In<typeof S.UpgradeBody>, TokenPair>("POST", "/upgrade", { auth: true, signsIn: true }),
  me: route<void, UserAnswer>("GET", "/me", { auth: true }),
  changePassword: route<In<typeof S.ChangePasswordBody>, UserAnswer>("POST", "/change-password", { auth: true }),
  forgotPassword: route<In<typeof S.ForgotBody>, Message>("POST", "/forgot-password"),
  resetPassword: route<In<typeof S.ResetBody>, UserAnswer>("POST", "/reset-password"),
  sessions: {
    list: route<void, { sessions: SessionInfo[] }>("GET", "/sessions", { auth: true }),
    delete: route<In<typeof S.SessionParams>, void>("DELETE", "/sessions/:sessionId", { auth: true }),
  },
  // API.md §9, the account lifecycle. JSON only: a picture by URL or null (an upload: `auth.fetch`).
  updateProfile: route<In<typeof L.ProfileBody>, UserAnswer>("PATCH", "/me", { auth: true }),
  changeEmail: route<In<typeof L.ChangeEmailBody>, Message>("POST", "/change-email", { auth: true }),
  confirmEmailChange: route<In<typeof S.TokenBody>, UserAnswer>("POST", "/confirm-email-change"),
  deleteAccount: route<In<typeof L.PasswordBody>, void>("DELETE", "/me", { auth: true, signsOut: true }),
  requestDeletion: route<In<typeof S.EmailBody>, Message>("POST", "/request-deletion"),
  confirmDeletion: route<In<typeof S.TokenBody>, Message>("POST", "/confirm-deletion"),
  activity: {
    list: route<ActivityQuery, ActivityPage>("GET", "/activity", { auth: true }),
  },
};

/**
 * A route table → the client's methods: `() => Promise<O>`, `(input?: I) => Promise<O>` when no
 * field of the input is required, or `(input: I) => Promise<O>`.
 */
export type Methods<T> = {
  [K in keyof T]: T[K] extends Route<infer I, infer O>
    ? [I] extends [void] ? () => Promise<O> : {} extends I ? (input?: I) => Promise<O> : (input: I) => Promise<O>
    : Methods<T[K]>;
};

export const isRoute = (value: unknown): value is Route<unknown, unknown> =>
  typeof value === "object" && value !== null && "method" in value && "path" in value;

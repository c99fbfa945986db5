/**
 * Every `/v1/auth` route the client wraps, one declarative line each: method, path, whether it
 * needs the Bearer token, whether its answer is a TokenPair to adopt. Input and output types come
 * from the zod schemas the service validates with (src/routes/schemas.ts; for API.md §9
 * src/routes/lifecycle-schemas.ts; for §11–§13 src/routes/signin-schemas.ts), as TYPE-ONLY
 * imports: no zod code reaches the bundle and there is no second copy of the shapes. (A schema
 * file, not a route file: a route file's imports would bring the services into the declarations.)
 *
 * Adding a route is one line, e.g.:
 *   deleteAccount: route<In<typeof L.PasswordBody>, void>("DELETE", "/me", { auth: true, signsOut: true }),
 *
 * @example
 * import { routes } from "./routes";
 * routes.login; // { method: "POST", path: "/login", auth: false, signsIn: true }
 */
import type * as L from "../../src/routes/lifecycle-schemas";
import type * as S from "../../src/routes/schemas";
import type * as P from "../../src/routes/signin-schemas";
import type * as M from "../../src/routes/mfa-schemas";

/**
 * What the route accepts (before the service's own transforms): zod 4's `z.input`, written out so
 * that the published declarations need no zod (scripts/build-sdk.mjs writes the shapes out).
 */
export type In<T extends { _zod: { input: unknown } }> = T["_zod"]["input"];
/** What the route answers: zod 4's `z.output`. */
export type Out<T extends { _zod: { output: unknown } }> = T["_zod"]["output"];

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
/** One of the caller's passkeys (API.md §12). */
export type Passkey = Out<typeof P.Passkey>;
/**
 * `{ challengeId, options }`: `options` is PublicKeyCredentialCreationOptionsJSON (registration) or
 * PublicKeyCredentialRequestOptionsJSON (login), for `PublicKeyCredential.parse…OptionsFromJSON`.
 */
export type PasskeyOptions = Out<typeof P.PasskeyOptions>;
/** The active second factor (API.md §15). */
export type MfaFactor = Out<typeof M.Factor>;
/** `POST /mfa/totp/activate`: the factor, the recovery codes (shown once) and the session at aal2 (adopted). */
export type MfaActivation = { factor: MfaFactor; recoveryCodes: string[]; tokens: TokenPair };
/** One linked identity (API.md §13). */
export type Identity = Out<typeof P.Identity>;
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
  /**
   * Sends the access token (refreshing first when needed; one retry after a 401 invalid_token).
   * "optional": only while signed in as a guest (or a session whose profile is not known yet), so
   * the service upgrades that guest in place (API.md §11, §13) or merges it into the account it
   * signs into (login, §16); a full account's token is not sent. A guest session that turns out to
   * be over (its refresh answers 401) is dropped and the call is made without a token.
   */
  readonly auth: boolean | "optional";
  /** The answer carries a TokenPair the client adopts as its session. */
  readonly signsIn: boolean;
  /** Success ends the session locally (its tokens no longer work). */
  readonly signsOut: boolean;
  readonly types?: { input: I; output: O };
}

function route<I = void, O = void>(
  method: HttpMethod,
  path: string,
  flags: { auth?: boolean | "optional"; signsIn?: boolean; signsOut?: boolean } = {},
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
  // `turnstileToken` (API.md §17): on guest, register, login, resendVerification, forgotPassword,
  // requestDeletion and emailCode.send, sent as the body field the service checks when
  // TURNSTILE_ROUTES guards the route; leave it out otherwise.
  guest: route<In<typeof S.GuestBody>, TokenPair>("POST", "/guest", { signsIn: true }),
  register: route<In<typeof S.RegisterBody>, RegisterResult>("POST", "/register", { signsIn: true }),
  verifyEmail: route<In<typeof S.TokenBody>, UserAnswer>("POST", "/verify-email"),
  resendVerification: route<In<typeof S.EmailBody>, Message>("POST", "/resend-verification"),
  // A guest signed in sends its token: the service merges the guest into the account (API.md §16 user.merged).
  login: route<In<typeof S.LoginBody>, TokenPair>("POST", "/login", { auth: "optional", signsIn: true }),
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
  // API.md §11, email codes: verify signs in (a guest's session: upgraded in place).
  emailCode: {
    send: route<In<typeof P.EmailCodeBody>, Message>("POST", "/email-code"),
    verify: route<In<typeof P.EmailCodeVerifyBody>, TokenPair>("POST", "/email-code/verify", { auth: "optional", signsIn: true }),
  },
  // API.md §12, passkeys: WebAuthn's standard JSON forms in and out.
  passkeys: {
    registrationOptions: route<void, PasskeyOptions>("POST", "/passkeys/register/options", { auth: true }),
    register: route<In<typeof P.PasskeyRegisterBody>, Out<typeof P.PasskeyBody>>("POST", "/passkeys/register", { auth: true }),
    list: route<void, { passkeys: Passkey[] }>("GET", "/passkeys", { auth: true }),
    rename: route<In<typeof P.PasskeyParams> & { name: In<typeof P.PasskeyName> }, Out<typeof P.PasskeyBody>>("PATCH", "/passkeys/:passkeyId", { auth: true }),
    delete: route<In<typeof P.PasskeyParams> & { password?: In<typeof S.Password> }, void>("DELETE", "/passkeys/:passkeyId", { auth: true }),
    loginOptions: route<void, PasskeyOptions>("POST", "/passkeys/login/options"),
    login: route<In<typeof P.PasskeyLoginBody>, TokenPair>("POST", "/passkeys/login", { signsIn: true }),
  },
  // API.md §13. `oauth.authorizeUrl` (a URL for the browser, no request) is written in index.ts.
  signInWithIdToken: route<In<typeof P.IdTokenBody>, TokenPair>("POST", "/id-token", { auth: "optional", signsIn: true }),
  oauth: {
    exchange: route<{ code: In<typeof S.OpaqueToken> }, TokenPair>("POST", "/oauth/token", { auth: "optional", signsIn: true }),
  },
  // API.md §15, the second factor. `verify` and `stepUp` answer a TokenPair (adopted); so does
  // `activateTotp`, under `tokens`.
  mfa: {
    verify: route<In<typeof M.MfaVerifyBody>, TokenPair>("POST", "/mfa/verify", { signsIn: true }),
    enrollTotp: route<In<typeof M.MfaEnrollBody>, Out<typeof M.MfaEnrollment>>("POST", "/mfa/totp", { auth: true }),
    activateTotp: route<In<typeof M.MfaActivateBody>, MfaActivation>("POST", "/mfa/totp/activate", { auth: true, signsIn: true }),
    list: route<void, Out<typeof M.MfaFactors>>("GET", "/mfa", { auth: true }),
    removeTotp: route<{ factorId: string } & In<typeof M.MfaReauthBody>, void>("DELETE", "/mfa/totp/:factorId", { auth: true }),
    recoveryCodes: route<In<typeof M.MfaReauthBody>, Out<typeof M.MfaRecoveryCodes>>("POST", "/mfa/recovery-codes", { auth: true }),
    stepUp: route<In<typeof M.MfaStepUpBody>, TokenPair>("POST", "/mfa/step-up", { auth: true, signsIn: true }),
  },
  identities: {
    link: route<In<typeof P.IdTokenBody>, { identity: Identity }>("POST", "/identities", { auth: true }),
    list: route<void, { identities: Identity[] }>("GET", "/identities", { auth: true }),
    unlink: route<{ identityId: In<typeof S.Uuid>; password?: In<typeof S.Password> }, void>("DELETE", "/identities/:identityId", { auth: true }),
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

/**
 * The Worker: middleware, routers, the daily clean-up, the event sweep and queue consumer, and the Durable Object classes. Nothing
 * else lives here.
 *
 * @example
 * // wrangler.toml: main = "src/index.ts"; tests call `exports.default.fetch(request)`.
 */
import type { MiddlewareHandler } from "hono";
import { router } from "./http";
import type { AppEnv } from "./http";
import { purgeExpired } from "./maintenance";
import {
  configure, cors, noStore, notFound, onError, requestLog, securityHeaders,
} from "./http/middleware";
import { compat } from "./routes/compat";
import { devIndex, devMail } from "./routes/dev-mail";
import { devPasskeys } from "./routes/dev-passkeys";
import { meta } from "./routes/meta";
import { pages } from "./pages";
import { v1 } from "./routes/v1";
import { v1Account } from "./routes/v1-account";
import { admin } from "./routes/admin";
import { adminEvents } from "./routes/admin-events";
import { accountPages } from "./pages/account-pages";
import { adminConsole } from "./console";
import { loadConfig } from "./config";
import { v1EmailCode } from "./routes/v1-email-code";
import { v1Passkeys } from "./routes/v1-passkeys";
import { v1Mfa } from "./routes/v1-mfa";
import { identityRoutes } from "./routes/v1-identities";
import { consume } from "./events/consumer";
import type { DeliveryMessage } from "./events";
import { sweepEvents } from "./events/sweep";

const developmentOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.get("config").isDevelopment) return notFound(c);
  await next();
};

const app = router();
app.use("*", requestLog, securityHeaders, configure, cors);
// Body limits and normalisation run per route, after its rate limit (middleware.ts `limited`).
for (const api of ["/v1/auth/*", "/auth/*"]) app.use(api, noStore);
app.use("/_dev/*", developmentOnly);

app.route("/v1/auth", v1);
app.route("/v1/auth", v1Account);
app.route("/v1/admin", admin);
app.route("/v1/admin", adminEvents);
app.route("/v1/auth", v1EmailCode);
app.route("/v1/auth", v1Passkeys);
app.route("/v1/auth", v1Mfa);
app.route("/v1/auth", identityRoutes);
app.route("/auth", compat);
app.route("/_dev", devMail);
app.route("/_dev", devPasskeys);
app.get("/", developmentOnly, devIndex);
app.route("/", pages);
app.route("/", accountPages);
app.route("/", adminConsole);
app.route("/", meta(app));
app.notFound(notFound);
app.onError(onError);

/** The config of the daily clean-up; none when it cannot load (the rows are purged anyway). */
const cleanUpConfig = (env: Env) => {
  try {
    return loadConfig(env);
  } catch {
    return undefined;
  }
};

/** The cron of the event sweep (wrangler.toml); any other cron is the daily clean-up. */
const EACH_MINUTE = "* * * * *";

export default {
  fetch: app.fetch,
  scheduled: (controller, env, ctx) => {
    if (controller.cron === EACH_MINUTE) {
      const config = cleanUpConfig(env);
      // The later of the clock and the run's scheduled time (a test schedules a run in the future).
      if (config) ctx.waitUntil(sweepEvents(env, config, Math.max(Date.now(), controller.scheduledTime)));
      return;
    }
    ctx.waitUntil(purgeExpired(env, Date.now(), cleanUpConfig(env)));
  },
  queue: (batch, env, _ctx) => consume(batch, env),
} satisfies ExportedHandler<Env, DeliveryMessage>;
export { RateLimiter } from "./rate-limit/limiter-object";
export { LoginChallengeObject } from "./passkeys/challenge-object";
export { UserSessions } from "./sessions/user-object";
export { AuthRpc } from "./rpc";

/**
 * The bench-only floor worker: the least each kind of work can cost under the same `wrangler dev`
 * as the service, with no framework, no middleware and no logging. `bench/run.mjs` divides the
 * service's routes by these floors (login ÷ PBKDF2, me ÷ D1, refresh ÷ Durable Object), so a ratio
 * says how much the service adds on top of the work API.md requires. Never deployed.
 *
 * Routes: GET /json (a trivial JSON answer), GET /d1?id=N (one primary-key read of a users-shaped
 * row), GET /do?key=K (one call to a trivial method of a SQLite-backed Durable Object named K),
 * GET /pbkdf2 (one PBKDF2-HMAC-SHA256 derive of 100,000 iterations, as the service hashes),
 * POST /setup (creates and fills the D1 table; idempotent).
 * Reference floors, which price the other kinds of work the service's routes must do, so the bench
 * can say how close to its target a route could get at best: GET /d1-write?id=N (one primary-key
 * UPDATE), GET /do-write?key=K (one Durable Object call that writes its SQLite storage),
 * GET /sign and GET /verify (one ES256 signature made or checked with WebCrypto), GET /log (a trivial
 * JSON answer plus the one JSON console line per request that the service must write, in its shape).
 * GET /guest-batch is the floor of a guest's creation: one D1 batch that inserts a new users row and
 * a new sessions row (the least a guest sign-up must write), nothing else.
 *
 * @example
 * npx wrangler dev -c bench/wrangler.toml --ip 127.0.0.1 --port 8792 --persist-to /tmp/floor
 * curl -X POST http://127.0.0.1:8792/setup && curl http://127.0.0.1:8792/d1?id=7
 */
import { DurableObject } from "cloudflare:workers";

interface FloorEnv {
  DB: D1Database;
  FLOOR: DurableObjectNamespace<FloorObject>;
}

/** As many rows as the bench has distinct readers, shaped like the service's users rows. */
const ROWS = 256;
const PBKDF2_ITERATIONS = 100_000;
const encoder = new TextEncoder();

export class FloorObject extends DurableObject<FloorEnv> {
  /** Does nothing: what remains is the cost of reaching the object and answering. */
  ping(): number {
    return 1;
  }

  /** One upsert in the object's own storage, as a limiter or a user's token state does per request. */
  write(): number {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, count INTEGER NOT NULL)");
    return sql.exec<{ count: number }>("INSERT INTO hits (id, count) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET count = count + 1 RETURNING count").one().count;
  }
}

const ES256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
let signing: Promise<{ keys: CryptoKeyPair; token: string }> | undefined;

/** One key pair and one signed token per isolate, as the service keeps its imported key. */
function signingState() {
  signing ??= (async () => {
    const keys = (await crypto.subtle.generateKey(ES256, false, ["sign", "verify"])) as CryptoKeyPair;
    return { keys, token: await sign(keys.privateKey) };
  })();
  return signing;
}

const b64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

async function sign(key: CryptoKey): Promise<string> {
  const header = b64url(encoder.encode(JSON.stringify({ alg: "ES256", typ: "JWT", kid: "floor" })));
  const now = Math.floor(Date.now() / 1000);
  const claims = b64url(encoder.encode(JSON.stringify({ sub: crypto.randomUUID(), sid: crypto.randomUUID(), iat: now, exp: now + 3600 })));
  const signature = new Uint8Array(await crypto.subtle.sign(SIGN, key, encoder.encode(`${header}.${claims}`)));
  return `${header}.${claims}.${b64url(signature)}`;
}

async function verify(key: CryptoKey, token: string): Promise<boolean> {
  const [header, claims, signature] = token.split(".") as [string, string, string];
  const bytes = Uint8Array.from(atob(signature.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  return crypto.subtle.verify(SIGN, key, bytes, encoder.encode(`${header}.${claims}`));
}

async function setup(db: D1Database): Promise<Response> {
  await db.exec(
    "CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, email TEXT, username TEXT, password_hash TEXT, is_guest INTEGER NOT NULL, email_verified_at INTEGER, profile_picture TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)",
  );
  const now = Date.now();
  const insert = db.prepare(
    "INSERT OR IGNORE INTO users (id, email, username, password_hash, is_guest, email_verified_at, profile_picture, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, NULL, ?, ?)",
  );
  const rows = Array.from({ length: ROWS }, (_, i) =>
    insert.bind(String(i), `user${i}@example.com`, `user${i}`, `pbkdf2-sha256$100000$${"s".repeat(22)}$${"h".repeat(43)}`, now, now, now),
  );
  await db.batch(rows);
  await db.exec(
    "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, created_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL, expires_at INTEGER, revoked_at INTEGER, revoked_reason TEXT, ip_address TEXT, user_agent TEXT)",
  );
  await db.exec("CREATE INDEX IF NOT EXISTS sessions_user_idx ON sessions (user_id, revoked_at)");
  return Response.json({ rows: ROWS });
}

async function pbkdf2(): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode("correct horse battery staple"), "PBKDF2", false, ["deriveBits"]);
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations: PBKDF2_ITERATIONS }, key, 256);
  return btoa(String.fromCharCode(...new Uint8Array(bits)));
}

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/json":
        return Response.json({ ok: true });
      case "/d1": {
        const row = await env.DB.prepare("SELECT * FROM users WHERE id = ?").bind(url.searchParams.get("id") ?? "0").first();
        return row ? Response.json({ user: row }) : Response.json({ error: "not_found" }, { status: 404 });
      }
      case "/do": {
        const stub = env.FLOOR.get(env.FLOOR.idFromName(url.searchParams.get("key") ?? "0"));
        return Response.json({ value: await stub.ping() });
      }
      case "/pbkdf2":
        return Response.json({ hash: await pbkdf2() });
      case "/d1-write": {
        const result = await env.DB.prepare("UPDATE users SET updated_at = ? WHERE id = ?").bind(Date.now(), url.searchParams.get("id") ?? "0").run();
        return Response.json({ changes: result.meta.changes });
      }
      case "/do-write": {
        const stub = env.FLOOR.get(env.FLOOR.idFromName(`write-${url.searchParams.get("key") ?? "0"}`));
        return Response.json({ count: await stub.write() });
      }
      case "/sign": {
        const { keys } = await signingState();
        return Response.json({ token: await sign(keys.privateKey) });
      }
      case "/verify": {
        const { keys, token } = await signingState();
        return Response.json({ valid: await verify(keys.publicKey, token) });
      }
      case "/log": {
        const started = Date.now();
        const response = Response.json({ ok: true });
        console.log(JSON.stringify({
          level: "info", event: "request", time: new Date().toISOString(), requestId: crypto.randomUUID(),
          method: request.method, route: "/log", status: response.status, ms: Date.now() - started, colo: undefined,
        }));
        return response;
      }
      case "/guest-batch": {
        const userId = crypto.randomUUID();
        const now = Date.now();
        const [user, session] = await env.DB.batch([
          env.DB.prepare("INSERT INTO users (id, is_guest, created_at, updated_at) VALUES (?, 1, ?, ?)").bind(userId, now, now),
          env.DB.prepare("INSERT INTO sessions (id, user_id, created_at, last_used_at, ip_address) VALUES (?, ?, ?, ?, ?)")
            .bind(crypto.randomUUID(), userId, now, now, request.headers.get("cf-connecting-ip")),
        ]);
        return Response.json({ changes: (user?.meta.changes ?? 0) + (session?.meta.changes ?? 0) });
      }
      case "/setup":
        return request.method === "POST" ? setup(env.DB) : new Response(null, { status: 405 });
      default:
        return Response.json({ error: "not_found" }, { status: 404 });
    }
  },
} satisfies ExportedHandler<FloorEnv>;

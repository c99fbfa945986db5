/**
 * API.md §5's error shape, which the client SDK reads: every error the wardrobe answers is
 * `{ statusCode, error, message }` JSON.
 *
 * @example
 * return problem(c, 404, "not_found", "No such item"); // 404 { statusCode: 404, error: "not_found", message: "No such item" }
 */
import type { Context } from "hono";

/** The status codes the wardrobe answers errors with. */
export type ProblemStatus = 400 | 404 | 413 | 503;

/** A JSON error response: `status`, a snake_case `error` code and a human `message` (never a secret). */
export const problem = (c: Context, status: ProblemStatus, error: string, message: string) => c.json({ statusCode: status, error, message }, status);

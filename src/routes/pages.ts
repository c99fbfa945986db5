/**
 * The service's own pages for mailed links: /reset-password and /verify-email.
 * (Placeholder until the recovery issue lands its pages.)
 */
import { Hono } from "hono";
import type { AppEnv } from "../http";

export const pages = new Hono<AppEnv>();

/**
 * Compatibility doors under /auth for documents 000 and 001 (API.md §4).
 * (Placeholder until the compatibility issue lands.)
 */
import { router } from "../http";

export const compat = router();

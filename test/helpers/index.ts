/**
 * Shared test helpers, in one place: import from "./helpers" (or "../helpers").
 */
export * from "./accounts";
export * from "./adversarial";
export * from "./http";
export * from "./rate-limits";
export * from "./tokens";
export * from "./lifecycle";
export * from "./config";
export * from "./password-hash";

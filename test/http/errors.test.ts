/**
 * The error catalogue (src/http/errors.ts): one list of codes, statuses and default messages, from
 * which thrown errors take their status and the OpenAPI `Error` schema takes its enum.
 */
import { describe, expect, it } from "vitest";
import { AuthError, ERRORS, ERROR_CODES, ERROR_STATUS, invalidRequest, invalidToken } from "../../src/http/errors";
import { call, json } from "../helpers";

describe("error catalogue", () => {
  it("gives every code a 4xx or 5xx status and a message", () => {
    expect(ERROR_CODES.length).toBeGreaterThan(0);
    for (const code of ERROR_CODES) {
      expect(ERRORS[code].status).toBeGreaterThanOrEqual(400);
      expect(ERRORS[code].status).toBeLessThan(600);
      expect(ERRORS[code].message.length).toBeGreaterThan(0);
      expect(ERROR_STATUS[code]).toBe(ERRORS[code].status);
    }
  });

  it("errors take their status from it, and its message when they give none", () => {
    const disabled = new AuthError("account_disabled");
    expect(disabled.status).toBe(403);
    expect(disabled.toJSON()).toEqual({ statusCode: 403, error: "account_disabled", message: ERRORS.account_disabled.message });
    expect(new AuthError("conflict", "Taken").toJSON().message).toBe("Taken");
    expect(invalidToken().message).toBe(ERRORS.invalid_token.message);
    expect(invalidRequest("email", "is required").toJSON()).toEqual({
      statusCode: 400,
      error: "invalid_request",
      message: ERRORS.invalid_request.message,
      details: [{ field: "email", message: "is required" }],
    });
  });

  it("is the enum of the OpenAPI Error schema", async () => {
    const document = await json(await call("/openapi.json"));
    expect(document.components.schemas.Error.properties.error.enum).toEqual(ERROR_CODES);
  });

  it("matches what the service answers", async () => {
    const response = await call("/v1/no-such-route");
    expect(response.status).toBe(ERROR_STATUS.not_found);
    expect((await json(response)).error).toBe("not_found");
  });
});

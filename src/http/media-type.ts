/**
 * Reads a Content-Type header as RFC 9110 §8.3.1 spells it: `type "/" subtype *( OWS ";" OWS
 * [ parameter ] )`, case-insensitive type and subtype, parameters that may be quoted, empty
 * parameters (a trailing ";") and optional whitespace around ";". Anything else is null.
 *
 * @example
 * parseMediaType("Application/JSON ; charset=utf-8;") // { essence: "application/json", params: { charset: "utf-8" } }
 * isJsonMediaType(parseMediaType("application/problem+json")) // true
 */

export interface MediaType {
  /** `type/subtype`, lower case. */
  essence: string;
  /** Parameter names in lower case; values unquoted. */
  params: Record<string, string>;
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const MEDIA_TYPE = new RegExp(`^(${TOKEN})/(${TOKEN})`);
const PARAMETER = new RegExp(`^(${TOKEN})=(${TOKEN}|"(?:[^"\\\\]|\\\\.)*")`);

export function parseMediaType(header: string | null | undefined): MediaType | null {
  if (!header) return null;
  let rest = header.trim();
  const head = MEDIA_TYPE.exec(rest);
  if (!head) return null;
  const params: Record<string, string> = {};
  rest = rest.slice(head[0].length);
  for (;;) {
    rest = rest.replace(/^[ \t]*/, "");
    if (rest === "") break;
    if (!rest.startsWith(";")) return null;
    rest = rest.slice(1).replace(/^[ \t]*/, "");
    if (rest === "" || rest.startsWith(";")) continue;
    const parameter = PARAMETER.exec(rest);
    if (!parameter) return null;
    const value = parameter[2]!;
    params[parameter[1]!.toLowerCase()] = value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, "$1") : value;
    rest = rest.slice(parameter[0].length);
  }
  return { essence: `${head[1]}/${head[2]}`.toLowerCase(), params };
}

/** `application/json` or any `application/<name>+json` (RFC 6839 structured syntax suffix). */
export function isJsonMediaType(type: MediaType | null): boolean {
  return type !== null && /^application\/([!#$%&'*.^_`|~0-9a-z-]+\+)?json$/.test(type.essence);
}

/** `multipart/form-data` or `application/x-www-form-urlencoded`. */
export function isFormMediaType(type: MediaType | null): boolean {
  return type?.essence === "multipart/form-data" || type?.essence === "application/x-www-form-urlencoded";
}

/**
 * Which email addresses the service accepts (docs/accounts.md, "Email addresses"): ASCII addresses as
 * RFC 5321 §4.1.2 writes a mailbox, `dot-atom@domain`, with the domain as DNS host name labels
 * (RFC 1035 letters, digits and hyphens; an internationalised domain in its A-label form,
 * `xn--…`, RFC 5890), at least two labels, a top-level label that is not all digits, and the
 * lengths of RFC 5321 §4.5.3.1 (64 for the local part, 254 in all). Quoted local parts and
 * address literals are refused; non-ASCII local parts (SMTPUTF8, RFC 6531) are refused with a
 * message that says so, since not every mail path delivers them.
 *
 * @example
 * emailProblem("olga@example.xn--p1ai") // null
 * emailProblem("ольга@example.com")     // "must use only ASCII letters …"
 */

const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const DOT_ATOM = new RegExp(`^${ATEXT}(\\.${ATEXT})*$`);
const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Why `address` is not one the service accepts, as a message after the field name; null when it is. */
export function emailProblem(address: string): string | null {
  const at = address.lastIndexOf("@");
  if (at <= 0 || at === address.length - 1) return "must be an email address like name@example.com";
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(local)) {
    return "must use only ASCII letters, digits and !#$%&'*+/=?^_`{|}~.- before the @ (non-ASCII addresses are not supported)";
  }
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(domain)) return "must write an internationalised domain in its ASCII form (xn--…)";
  if (local.length > 64) return "must have at most 64 characters before the @";
  if (!DOT_ATOM.test(local)) return "must be an email address like name@example.com";
  const labels = domain.split(".");
  if (domain.length > 253 || labels.length < 2 || !labels.every((label) => LABEL.test(label)) || /^\d+$/.test(labels.at(-1)!)) {
    return "must have a domain like example.com";
  }
  return null;
}

/**
 * How a caller's value appears in a message, a log line or a failure cause: never whole, since a caller can send
 * 80 KB of it, and never raw where a reader could mistake it for our own words.
 */

/** A short, JSON-escaped excerpt of a bad value: never the whole of what a caller sent. */
export function quote(value: unknown): string {
  // JSON.parse reads 1e309 as Infinity, which JSON.stringify would print as null.
  if (typeof value === "number" && !Number.isFinite(value)) return "a number too large";
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = describeType(value);
  }
  return excerpt(text, 60);
}

/** At most `maxLength` characters of `text`, marked with "..." when cut; never half a surrogate pair. */
export function excerpt(text: string, maxLength: number): string {
  if (text.length <= maxLength) return text;
  const end = maxLength - 3;
  const cut = /[\uD800-\uDBFF]/.test(text.charAt(end - 1)) ? end - 1 : end;
  return `${text.slice(0, cut)}...`;
}

/** "an array", "a string": what a value is, without any of it. */
export function describeType(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

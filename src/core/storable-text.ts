/** NUL, and UTF-16 surrogates without their pair: valid in JS strings, refused or mangled by databases. */
export const UNSTORABLE_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const NUL = /\u0000/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text every dialect stores as given: NUL (refused by PostgreSQL text and jsonb) becomes the
 * two characters `\0`, and a UTF-16 surrogate without its pair (refused by PostgreSQL and
 * MariaDB, mangled by SQLite) becomes U+FFFD.
 */
export function storableText(text: string): string {
  if (!UNSTORABLE_TEXT.test(text)) return text;
  return text.replace(NUL, '\\0').replace(LONE_SURROGATE, '\uFFFD');
}

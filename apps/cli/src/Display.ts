/**
 * Making data safe to print on a terminal. A customer name, a stream name, an event id or an
 * error message from the shop is data: it may hold an escape sequence that clears the screen or
 * rewrites the title, a CR that overwrites the line, a LF that forges a line, a NUL, a lone
 * surrogate (not valid UTF-16, printed as U+FFFD or mangled). `escape` turns each of those into a
 * visible `\uXXXX` escape; `Output` and the one-line error run every line through it, so nothing
 * the CLI prints reaches the terminal raw. `field` also quotes a value that could be confused
 * with the columns around it.
 */

/**
 * What `escape` rewrites: C0 and C1 control characters and DEL, bidirectional overrides and
 * isolates (which reorder what a terminal shows), the line and paragraph separators, and lone
 * surrogates (a high one not followed by a low one, a low one not preceded by a high one).
 */
// oxlint-disable-next-line no-control-regex -- matching control characters is the point
const unsafe = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

const hex = (c: string) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")

/** The text with every unsafe character (see above) shown as a `\uXXXX` escape; everything else as is. */
export const escape = (text: string): string => text.replace(unsafe, hex)

/** A value that needs no quotes: printable, no spaces, quotes or backslashes. */
// oxlint-disable-next-line no-control-regex -- matching control characters is the point
const plain = /^[^\s"'\\\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]+$/

/** Valid surrogate pairs (emoji and other astral characters): printable, so no reason to quote. */
const pairs = /[\ud800-\udbff][\udc00-\udfff]/g

/**
 * A value printed among others on a line (a customer, an id, a stream name): as is when plain,
 * else in double quotes with `\\`, `\"` and `\uXXXX` escapes, so that spaces, quotes, an empty
 * value or a name that spells an escape cannot be mistaken for something else.
 */
export const field = (value: string): string => (plain.test(value.replace(pairs, "x")) ? value : quoted(value))

/** `value` in double quotes, with `\\`, `\"` and `\uXXXX` escapes (as `field` quotes). */
export const quoted = (value: string): string => `"${escape(value.replace(/\\/g, "\\\\").replace(/"/g, "\\\""))}"`

/**
 * A JSON rendering of `value` that is safe to print: `JSON.stringify` already escapes C0
 * characters and lone surrogates; this escapes the rest `escape` knows (inside a JSON string a
 * `\uXXXX` escape means the same character, so the text stays valid JSON).
 */
export const json = (value: unknown): string => escape(JSON.stringify(value) ?? "undefined")

/** An argument to copy into a shell: as is when it has no special character, else in single quotes. */
export const shellArg = (arg: string): string =>
  /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${escape(arg).replace(/'/g, `'\\''`)}'`

/** An integer with thousands separators. */
export const count = (n: number): string => n.toLocaleString("en-US")

/** `n` followed by the noun, singular or plural. */
export const counted = (n: number, one: string, many = `${one}s`): string => `${count(n)} ${n === 1 ? one : many}`

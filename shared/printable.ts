/**
 * Text from outside (branch, repo, path, app names; tool output) made safe to print: control
 * characters, ANSI escape sequences and Unicode line/paragraph separators and bidi overrides are
 * shown as escapes (`\x1b`, `\n`, `\u202e`), so a crafted name cannot rewrite a terminal, forge a
 * log line or hide text. Printable characters, spaces and all other Unicode pass unchanged.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escapeChar = (char: string): string => {
  const code = char.charCodeAt(0);
  if (char === '\n') return '\\n';
  if (char === '\r') return '\\r';
  if (char === '\t') return '\\t';
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
};

export const printable = (value: unknown): string => String(value).replace(UNPRINTABLE, escapeChar);

/** Like printable, but keeps line breaks: for multi-line text (a tool's stderr) printed as a block. */
export const printableLines = (value: unknown): string =>
  String(value)
    .split('\n')
    .map((line) => printable(line))
    .join('\n');

/**
 * The selection or the current file as context for the next message: a quote the user
 * sees in the composer (and can edit) before sending, naming the file and lines.
 */

export interface EditorText {
  /** The file's path, relative to the workspace when inside it. */
  path: string;
  /** VS Code's language id, used as the code fence's info string. */
  languageId: string;
  text: string;
  /** 1-based, inclusive; absent for the whole file. */
  lines?: { start: number; end: number };
}

/** A quote longer than this names the file instead: the agent can read it itself. */
export const MAX_QUOTE_CHARS = 40_000;

/** A fence longer than any run of backticks in `text`, so the quote cannot end early. */
function fence(text: string): string {
  const longest = Math.max(0, ...(text.match(/`{3,}/g) ?? []).map((run) => run.length));
  return '`'.repeat(Math.max(3, longest + 1));
}

export function contextBlock(source: EditorText): string {
  const where = source.lines
    ? source.lines.start === source.lines.end
      ? `\`${source.path}\` line ${source.lines.start}`
      : `\`${source.path}\` lines ${source.lines.start}–${source.lines.end}`
    : `\`${source.path}\``;
  if (source.text.length > MAX_QUOTE_CHARS) {
    return `Context: ${where} (${source.text.length.toLocaleString('en')} characters, too long to quote: read it).\n`;
  }
  const body = source.text.endsWith('\n') ? source.text : `${source.text}\n`;
  const f = fence(body);
  const info = /^[\w+#.-]+$/.test(source.languageId) && source.languageId !== 'plaintext' ? source.languageId : '';
  return `Context: ${where}\n\n${f}${info}\n${body}${f}\n`;
}

/**
 * Text that crosses a trust boundary: event details (made by the coordinator from what
 * workers say, parsed by every dashboard) and untrusted strings printed to a terminal.
 */

/**
 * Most characters in an event's or end record's `detail`. The coordinator cuts a detail to
 * this where the event is made (clipDetail) and every parser refuses longer ones, so the
 * two sides cannot disagree (a longer detail once made every new dashboard refuse the snapshot).
 */
export const MAX_DETAIL = 1024;

const ELLIPSIS = '…';

/** `text` cut to MAX_DETAIL characters, the last one an ellipsis when something was cut. */
export function clipDetail(text: string): string {
  if (text.length <= MAX_DETAIL) return text;
  // NOTE: never split a surrogate pair: half of one is not valid UTF-8 in history.jsonl.
  let end = MAX_DETAIL - ELLIPSIS.length;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}${ELLIPSIS}`;
}

/**
 * `text` safe to write to a terminal: C0 and C1 control characters, DEL and the Unicode
 * line/paragraph separators are written as escapes (ESC as \x1b, a newline as \n, a
 * backslash doubled so an escape cannot be forged), so a worker's name or error text can
 * neither drive the terminal (titles, clearing, cursor moves) nor start a line of its own.
 */
export function printable(text: string): string {
  return text.replace(/[\\\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (character) => {
    switch (character) {
      case '\\':
        return '\\\\';
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      default: {
        const code = character.charCodeAt(0);
        return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
      }
    }
  });
}

/** The prefix of every error line of Convoy's command lines (coordinator, worker, convoy). */
export const ERROR_PREFIX = 'convoy:';

/**
 * Commander's message ("error: unknown option '--epoch'" then "(Did you mean --epochs?)")
 * as one line, with the way to the flags: `convoy: unknown option '--epoch' (Did you mean
 * --epochs?); see pnpm start -- --help`.
 */
export function usageErrorLine(text: string, helpCommand: string): string {
  const message = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ')
    .replace(/^error: /, '');
  return `${ERROR_PREFIX} ${message}; see ${helpCommand}`;
}


import { describe, expect, it } from 'vitest';
import { MAX_DETAIL, clipDetail, printable } from './text.js';

describe('clipDetail: an event detail never exceeds what parsers accept', () => {
  it('keeps a short text, cuts a long one to MAX_DETAIL with an ellipsis, never halves a surrogate pair', () => {
    expect(clipDetail('worker error X: boom')).toBe('worker error X: boom');
    expect(clipDetail('a'.repeat(MAX_DETAIL))).toBe('a'.repeat(MAX_DETAIL));
    const clipped = clipDetail('b'.repeat(MAX_DETAIL + 58));
    expect(clipped).toHaveLength(MAX_DETAIL);
    expect(clipped.endsWith('b…')).toBe(true);
    // '😀' is two UTF-16 units: a cut between them would leave a lone high surrogate.
    const emoji = clipDetail(`${'c'.repeat(MAX_DETAIL - 2)}😀${'d'.repeat(10)}`);
    expect(emoji.length).toBeLessThanOrEqual(MAX_DETAIL);
    expect(emoji).toBe(`${'c'.repeat(MAX_DETAIL - 2)}…`);
  });
});

describe('printable: untrusted text on a terminal', () => {
  it('escapes ESC, BEL, newlines, C1 controls, DEL and line separators; doubles backslashes; leaves the rest', () => {
    expect(printable('\x1b]0;pwn\x07\x1b[2J\n[join] worker 99')).toBe('\\x1b]0;pwn\\x07\\x1b[2J\\n[join] worker 99');
    expect(printable('a\rb\tc\x00d\x7fe\x9bf\u2028g')).toBe('a\\rb\\tc\\x00d\\x7fe\\x9bf\\u2028g');
    expect(printable('C:\\x1b')).toBe('C:\\\\x1b');
    expect(printable('local-1 at 127.0.0.1:5000 (ünïcode ✓)')).toBe('local-1 at 127.0.0.1:5000 (ünïcode ✓)');
  });
});

import { describe, expect, it } from 'vitest';
import { statusAfterClose } from './connection.js';

describe('statusAfterClose: what a closed connection means', () => {
  it('mid-run: reconnecting; stopped or failed: paused until a --resume; finished: over, for good; a refusal stays a refusal', () => {
    expect(statusAfterClose(null, false)).toBe('reconnecting');
    expect(statusAfterClose({ reason: 'stopped' }, false)).toBe('paused');
    expect(statusAfterClose({ reason: 'failed' }, false)).toBe('paused');
    expect(statusAfterClose({ reason: 'finished' }, false)).toBe('over');
    expect(statusAfterClose({ reason: 'finished' }, true)).toBe('refused');
  });
});

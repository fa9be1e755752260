/**
 * The worker's --chaos parser: what a plan means, and a one-line error naming the bad part;
 * and the header of the frame it cuts.
 */
import { describe, expect, it } from 'vitest';
import { frameHeader, parseChaos } from './chaos.js';

describe('worker --chaos plans', () => {
  it('worker: actions, steps and durations (ms or s)', () => {
    expect(parseChaos('kill@step20, pause@step40:5s,pause@step3:250ms,nan@step1')).toEqual([
      { kind: 'kill', step: 20, durationMs: 0 },
      { kind: 'pause', step: 40, durationMs: 5000 },
      { kind: 'pause', step: 3, durationMs: 250 },
      { kind: 'nan', step: 1, durationMs: 0 },
    ]);
    expect(parseChaos('')).toEqual([]);
    expect(parseChaos('thread-exit@step3')).toEqual([{ kind: 'thread-exit', step: 3, durationMs: 0 }]);
  });

  it('worker: bad parts are named', () => {
    expect(() => parseChaos('explode@step3')).toThrow(/--chaos: "explode@step3" is not ACTION@stepN/);
    expect(() => parseChaos('kill@3')).toThrow(/"kill@3"/);
    expect(() => parseChaos('pause@step4')).toThrow(/pause needs a duration, e\.g\. pause@step4:5s/);
    expect(() => parseChaos('kill@step0')).toThrow(/steps count from 1/);
  });

  it('a cut frame announces its full length: RFC 6455 64-bit length, masked, zero mask', () => {
    const header = frameHeader(300_000);
    expect([...header.subarray(0, 2)]).toEqual([0x82, 0xff]);
    expect(new DataView(header.buffer).getBigUint64(2)).toBe(300_000n);
    expect([...header.subarray(10)]).toEqual([0, 0, 0, 0]);
  });
});

/**
 * The --chaos parsers: what a plan means, and a one-line error naming the bad part.
 */
import { describe, expect, it } from 'vitest';
import { parseChaosPlan } from '../../packages/coordinator/src/index.js';
import { frameHeader, parseChaos } from '../../packages/worker/src/chaos.js';

describe('--chaos plans', () => {
  it('worker: actions, steps and durations (ms or s)', () => {
    expect(parseChaos('kill@step20, pause@step40:5s,pause@step3:250ms,nan@step1')).toEqual([
      { kind: 'kill', step: 20, durationMs: 0 },
      { kind: 'pause', step: 40, durationMs: 5000 },
      { kind: 'pause', step: 3, durationMs: 250 },
      { kind: 'nan', step: 1, durationMs: 0 },
    ]);
    expect(parseChaos('')).toEqual([]);
  });

  it('worker: bad parts are named', () => {
    expect(() => parseChaos('explode@step3')).toThrow(/--chaos: "explode@step3" is not ACTION@stepN/);
    expect(() => parseChaos('kill@3')).toThrow(/"kill@3"/);
    expect(() => parseChaos('pause@step4')).toThrow(/pause needs a duration, e\.g\. pause@step4:5s/);
    expect(() => parseChaos('kill@step0')).toThrow(/steps count from 1/);
  });

  it('coordinator: worker parts go to that local worker, kill:coordinator stays', () => {
    expect(parseChaosPlan('kill:worker1@step20,pause:worker2@step40:5s,exit:worker1@step30,kill:coordinator@step8', 3)).toEqual({
      killCoordinatorAtStep: 8,
      workers: ['kill@step20,exit@step30', 'pause@step40:5s', ''],
    });
    expect(() => parseChaosPlan('kill:worker4@step2', 3)).toThrow(/there are 3 local workers \(worker1\.\.worker3\)/);
    expect(() => parseChaosPlan('pause:coordinator@step2:1s', 1)).toThrow(/the coordinator knows only kill:coordinator@stepN/);
    expect(() => parseChaosPlan('kill-worker1', 1)).toThrow(/is not ACTION:TARGET@stepN/);
  });

  it('a cut frame announces its full length: RFC 6455 64-bit length, masked, zero mask', () => {
    const header = frameHeader(300_000);
    expect([...header.subarray(0, 2)]).toEqual([0x82, 0xff]);
    expect(new DataView(header.buffer).getBigUint64(2)).toBe(300_000n);
    expect([...header.subarray(10)]).toEqual([0, 0, 0, 0]);
  });
});

/**
 * --overlap's lookahead: the extrapolation by hand, and a WorkerWire computing a lookahead step
 * with it, from the parameters it kept before the last update or from those a full state brings.
 */
import { describe, expect, it } from 'vitest';
import { encodeMessage } from '../protocol/codec.js';
import { FROM_COORDINATOR_TO_WORKER, type CoordinatorToWorkerMessage, type StepMessage, type WelcomeMessage } from '../protocol/messages.js';
import { DEFAULT_LIMITS, decodeMessage } from '../protocol/parse.js';
import type { ResolvedOptimizerConfig } from '../optimizers/optimizer.js';
import { MNIST_CNN } from '../spec.js';
import { Rng } from '../rng.js';
import { CoordinatorWire } from './coordinator-wire.js';
import { extrapolate } from './lookahead.js';
import { replicaStateNames } from './replica.js';
import { WorkerWire } from './worker-wire.js';

const PARAMS = 1_000;
const limits = { ...DEFAULT_LIMITS, paramCount: PARAMS, accept: FROM_COORDINATOR_TO_WORKER };
const ADAM: ResolvedOptimizerConfig = { name: 'adam', learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

const welcome = (overlap: boolean): WelcomeMessage => ({
  type: 'welcome', protocol: 1, workerId: 1, spec: MNIST_CNN, paramCount: PARAMS, datasetHash: 'h', sendingDataset: false, heartbeatMs: 1000,
  wire: 'bf16', optimizer: ADAM, ...(overlap ? { overlap: true } : {}),
});
/** Through the codec and the parser, as on a socket. */
const toWorker = <M extends CoordinatorToWorkerMessage>(message: M): M => decodeMessage(encodeMessage(message), limits) as M;
const step = (version: number, extra: Partial<StepMessage> = {}): StepMessage =>
  toWorker({ type: 'step', step: version + 2, round: version + 1, epoch: 1, version, indices: Uint32Array.of(0), dropoutSeeds: Uint32Array.of(0), ...extra });

/** A coordinator's replica and its updates, to drive a worker's. */
function coordinator() {
  const rng = new Rng(5);
  const params = Float32Array.from({ length: PARAMS }, () => rng.nextFloat() - 0.5);
  const state = replicaStateNames(ADAM).map(() => new Float32Array(PARAMS));
  const wire = new CoordinatorWire('bf16', PARAMS, 0);
  const full = { params, state, iterations: 0 };
  const update = (version: number) => {
    const gradient = Float32Array.from({ length: PARAMS }, () => rng.nextFloat() - 0.5);
    const message = toWorker(wire.encode(version, ADAM, ADAM.learningRate, version - 1, gradient, 1));
    wire.apply(params, Object.fromEntries(replicaStateNames(ADAM).map((name, i) => [name, state[i]!])));
    return message;
  };
  return { params, full, update };
}

describe('extrapolate', () => {
  it('is 2 x params - previous, rounded once to float32', () => {
    const out = extrapolate(new Float32Array(4), Float32Array.of(1, -0.5, 3, 0.1), Float32Array.of(0.5, -0.25, 3, 0.3));
    expect(Array.from(out)).toEqual([1.5, -0.75, 3, Math.fround(2 * Math.fround(0.1) - Math.fround(0.3))]);
  });
});

describe('WorkerWire lookahead steps', () => {
  it('compute with the replica extrapolated from the parameters before the last update; other steps with the replica', () => {
    const source = coordinator();
    const worker = new WorkerWire();
    worker.onWelcome(welcome(true));
    worker.onJob(step(0, { params: source.params, state: source.full.state, iterations: 0 }));
    for (let version = 1; version <= 3; version++) {
      const before = Float32Array.from(source.params);
      worker.onUpdate(source.update(version));
      const ahead = worker.onJob(step(version, { lookahead: true }));
      expect(ahead.params).toEqual(extrapolate(new Float32Array(PARAMS), source.params, before));
      expect(worker.onJob(step(version)).params).toEqual(source.params);
    }
  });

  it('after a full state, extrapolate from the previousParams it brings, and refuse without them', () => {
    const source = coordinator();
    const before = Float32Array.from(source.params);
    source.update(1);
    const worker = new WorkerWire();
    worker.onWelcome(welcome(true));
    const full = { params: source.params, state: source.full.state, iterations: 1 };
    expect(() => worker.onJob(step(1, { ...full, lookahead: true }))).toThrow(expect.objectContaining({ code: 'BAD_REPLICA', message: expect.stringMatching(/needs the parameters of version 0/) }));
    const ahead = worker.onJob(step(1, { ...full, lookahead: true, previousParams: before }));
    expect(ahead.params).toEqual(extrapolate(new Float32Array(PARAMS), source.params, before));
  });

  it('are refused by a worker of a run without --overlap (it kept nothing to extrapolate from)', () => {
    const source = coordinator();
    const worker = new WorkerWire();
    worker.onWelcome(welcome(false));
    worker.onJob(step(0, { params: source.params, state: source.full.state, iterations: 0 }));
    worker.onUpdate(source.update(1));
    expect(() => worker.onJob(step(1, { lookahead: true }))).toThrow(expect.objectContaining({ code: 'BAD_REPLICA' }));
  });

  it('previousParams only beside params, in a lookahead step (BAD_FIELD)', () => {
    const frame = (extra: Record<string, unknown>) => encodeMessage({ type: 'step', step: 3, round: 1, epoch: 1, version: 1, indices: Uint32Array.of(0), dropoutSeeds: Uint32Array.of(0), ...extra } as StepMessage);
    const previousParams = new Float32Array(PARAMS);
    expect(() => decodeMessage(frame({ previousParams, lookahead: true }), limits)).toThrow(expect.objectContaining({ code: 'BAD_FIELD' }));
    expect(() => decodeMessage(frame({ previousParams, params: new Float32Array(PARAMS), state: [new Float32Array(PARAMS), new Float32Array(PARAMS)], iterations: 1 }), limits)).toThrow(
      expect.objectContaining({ code: 'BAD_FIELD' }),
    );
  });
});

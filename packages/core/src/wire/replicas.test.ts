/**
 * A replica run in miniature: a CoordinatorWire and WorkerWires exchanging real frames
 * (encodeMessage / decodeMessage), with random gradients: the replicas must stay bit-identical
 * with the coordinator's parameters over many steps, and a perturbed one must show in its hash.
 */
import { describe, expect, it } from 'vitest';
import { encodeMessage } from '../protocol/codec.js';
import { FROM_COORDINATOR_TO_WORKER, FROM_WORKER, type CoordinatorToWorkerMessage, type GradientMessage, type StepMessage, type WelcomeMessage } from '../protocol/messages.js';
import { DEFAULT_LIMITS, decodeMessage } from '../protocol/parse.js';
import type { ResolvedOptimizerConfig } from '../optimizers/optimizer.js';
import { MNIST_CNN } from '../spec.js';
import { Rng } from '../rng.js';
import { REPLICA_CHECK_EVERY, type WireCodec } from './codecs.js';
import { CoordinatorWire } from './coordinator-wire.js';
import { replicaHash, replicaStateNames } from './replica.js';
import { WorkerWire } from './worker-wire.js';
import { scatterEntries } from './packed.js';

const PARAMS = 3_000;
/** topk's density warm-up here: the last 40 of the 60 steps run at the final density. */
const WARMUP_STEPS = 20;
const limits = { ...DEFAULT_LIMITS, paramCount: PARAMS };
const OPTIMIZERS: readonly ResolvedOptimizerConfig[] = [
  { name: 'adadelta', learningRate: 1, rho: 0.95, epsilon: 1e-7 },
  { name: 'adam', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
];

function welcome(codec: WireCodec, optimizer: ResolvedOptimizerConfig): WelcomeMessage {
  return { type: 'welcome', protocol: 1, workerId: 1, spec: MNIST_CNN, paramCount: PARAMS, datasetHash: 'h', sendingDataset: false, heartbeatMs: 1000, wire: codec, optimizer };
}

/** Through the codec and the parser, as on a socket. */
function toWorker<M extends CoordinatorToWorkerMessage>(message: M): M {
  return decodeMessage(encodeMessage(message), { ...limits, accept: FROM_COORDINATOR_TO_WORKER }) as M;
}
const laterJob = (round: number): StepMessage => ({ type: 'step', step: 61, round, epoch: 4, version: 60, indices: Uint32Array.of(0), dropoutSeeds: Uint32Array.of(0) });
function toCoordinator(message: GradientMessage): GradientMessage {
  return decodeMessage(encodeMessage(message), { ...limits, accept: FROM_WORKER }) as GradientMessage;
}

describe.each(['bf16', 'topk'] as const)('replicas under %s', (codec) => {
  it.each(OPTIMIZERS.map((config) => [config.name, config] as const))('stay bit-identical with the coordinator over 60 steps (%s); a perturbed replica shows in the hash', (_name, config) => {
    const rng = new Rng(11);
    const params = Float32Array.from({ length: PARAMS }, () => rng.nextFloat() - 0.5);
    const state: Record<string, Float32Array> = Object.fromEntries(replicaStateNames(config).map((name) => [name, new Float32Array(PARAMS)]));
    const coordinator = new CoordinatorWire(codec, PARAMS, WARMUP_STEPS);
    const workers = [new WorkerWire(), new WorkerWire()];
    const sum = new Float32Array(PARAMS);
    for (const worker of workers) worker.onWelcome(welcome(codec, config));
    for (let step = 1; step <= 60; step++) {
      const version = step - 1;
      sum.fill(0);
      for (const [w, worker] of workers.entries()) {
        // The first step of each worker carries the full state (a joiner); later ones only the version.
        const full = version === 0 ? { params, state: Object.values(state), iterations: 0 } : {};
        const step_ = toWorker<StepMessage>({
          type: 'step', step, round: 2 * step + w, epoch: 1, version, indices: Uint32Array.of(w), dropoutSeeds: Uint32Array.of(0),
          density: coordinator.density(step), ...full,
        });
        const job = worker.onJob(step_);
        expect(replicaHash(job.params!)).toBe(replicaHash(params));
        const gradient = Float32Array.from({ length: PARAMS }, () => (rng.nextFloat() - 0.5) * 0.1);
        const answer = toCoordinator(
          worker.encodeGradient({ type: 'gradient', step, round: 2 * step + w, count: 1, lossSum: 1, correct: 0, gradient, computeMs: 1, decodeMs: 0 }, step_),
        );
        expect(answer.packed).toBeDefined();
        if (version % REPLICA_CHECK_EVERY === 0) expect(answer.replicaHash).toBe(replicaHash(params));
        else expect(answer.replicaHash).toBeUndefined();
        const dense = answer.entries === undefined ? answer.gradient : scatterEntries(answer.entries, PARAMS);
        for (let i = 0; i < PARAMS; i++) sum[i] = sum[i]! + dense[i]!;
      }
      const before = replicaHash(params);
      const update = toWorker(coordinator.encode(step, config, config.learningRate * 0.9 ** Math.floor(step / 20), step - 1, sum, 2));
      expect(replicaHash(params)).toBe(before);
      coordinator.apply(params, state);
      expect(replicaHash(params)).not.toBe(before);
      for (const worker of workers) worker.onUpdate(update);
    }
    for (const worker of workers) expect(replicaHash(worker.onJob(laterJob(999)).params!)).toBe(replicaHash(params));
    workers[1]!.perturbReplica();
    const drifted = workers[1]!.onJob(laterJob(1000));
    expect(replicaHash(drifted.params!)).not.toBe(replicaHash(params));
  });
});

describe('WorkerWire refuses', () => {
  it('a job for a version its replica does not hold, and parameters without optimizer state', () => {
    const worker = new WorkerWire();
    const config = OPTIMIZERS[0]!;
    worker.onWelcome(welcome('topk', config));
    const job: StepMessage = { type: 'step', step: 3, round: 1, epoch: 1, version: 2, indices: Uint32Array.of(0), dropoutSeeds: Uint32Array.of(0) };
    expect(() => worker.onJob(job)).toThrow(expect.objectContaining({ code: 'STALE_PARAMETERS' }));
    expect(() => worker.onJob({ ...job, params: new Float32Array(PARAMS) })).toThrow(expect.objectContaining({ code: 'BAD_REPLICA' }));
  });

  it('a new welcome (a reconnection, a resumed coordinator) forgets the topk residual: no gradient is counted twice', () => {
    const config = OPTIMIZERS[1]!;
    const job = (step: number): StepMessage => ({
      type: 'step', step, round: step, epoch: 1, version: 0, indices: Uint32Array.of(0), dropoutSeeds: Uint32Array.of(0), density: 0.01,
      ...(step === 1 ? { params: new Float32Array(PARAMS), state: [new Float32Array(PARAMS), new Float32Array(PARAMS)], iterations: 0 } : {}),
    });
    const answer = (step: number, gradient: Float32Array): GradientMessage => ({ type: 'gradient', step, round: step, count: 1, lossSum: 1, correct: 0, gradient, computeMs: 1, decodeMs: 0 });
    const sentEntries = (worker: WorkerWire, step: number, gradient: Float32Array): number => {
      worker.onJob(job(step));
      const decoded = toCoordinator(worker.encodeGradient(answer(step, gradient), job(step)));
      return scatterEntries(decoded.entries!, PARAMS).filter((value) => value !== 0).length;
    };
    const rng = new Rng(4);
    const gradient = Float32Array.from({ length: PARAMS }, () => rng.nextFloat() + 0.5);
    const kept = new WorkerWire();
    const renewed = new WorkerWire();
    for (const worker of [kept, renewed]) {
      worker.onWelcome(welcome('topk', config));
      expect(sentEntries(worker, 1, gradient)).toBe(30); // 1% of 3,000: the rest waits in the residual
    }
    renewed.onWelcome(welcome('topk', config));
    // A zero gradient: only what waits in the residual can go.
    expect(sentEntries(kept, 1, new Float32Array(PARAMS))).toBe(30);
    expect(sentEntries(renewed, 1, new Float32Array(PARAMS))).toBe(0);
  });

  it('fp32 runs pass jobs and answers through unchanged', () => {
    const worker = new WorkerWire();
    worker.onWelcome({ ...welcome('fp32', OPTIMIZERS[0]!), wire: 'fp32' });
    const job: StepMessage = { type: 'step', step: 3, round: 1, epoch: 1, version: 2, indices: Uint32Array.of(0), dropoutSeeds: Uint32Array.of(0) };
    expect(worker.onJob(job)).toBe(job);
    const answer: GradientMessage = { type: 'gradient', step: 3, round: 1, count: 1, lossSum: 0, correct: 0, gradient: new Float32Array(PARAMS), computeMs: 0, decodeMs: 0 };
    expect(worker.encodeGradient(answer, job)).toBe(answer);
  });
});

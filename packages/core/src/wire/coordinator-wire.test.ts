/**
 * The coordinator's topk download: the union's values go as bf16 and each rounding error
 * waits in the download residual, so what replicas apply plus what waits is, entry for
 * entry and bit for bit, the float32 sum of the mean gradient and the residual before.
 */
import { describe, expect, it } from 'vitest';
import type { ResolvedOptimizerConfig } from '../optimizers/optimizer.js';
import { Rng } from '../rng.js';
import { CoordinatorWire, unionOf, unionWords } from './coordinator-wire.js';
import { replicaStateNames } from './replica.js';
import { PACKED_FORMAT, decodePacked } from './packed.js';
import { replicaHash } from './replica.js';
import { createReplicaArrays } from './replica-kernel.js';

const PARAMS = 20_000;
const IMAGES = 256;
const config: ResolvedOptimizerConfig = { name: 'adam', learningRate: 0.002, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

/** A gradient sum nonzero on a random `density` of the entries, heavy-tailed as gradients are. */
function sparseSum(rng: Rng, density: number): Float32Array {
  return Float32Array.from({ length: PARAMS }, () => (rng.nextFloat() < density ? (rng.nextFloat() - 0.5) * Math.exp(8 * rng.nextFloat()) : 0));
}

describe('topk download (CoordinatorWire)', () => {
  it('each step: applied + residual after = float32(residual before + mean) on every entry; off the union nothing is sent and the residual waits', () => {
    const rng = new Rng(3);
    const coordinator = new CoordinatorWire('topk', PARAMS, 0);
    const params = new Float32Array(PARAMS);
    const state = Object.fromEntries(replicaStateNames(config).map((name) => [name, new Float32Array(PARAMS)]));
    const scale = Math.fround(1 / IMAGES);
    const formats: number[] = [];
    const given = new Float64Array(PARAMS);
    const applied = new Float64Array(PARAMS);
    // Mostly a 2-worker union at 1% each; step 6 is dense (a union of many workers early on).
    for (let step = 1; step <= 12; step++) {
      const sum = sparseSum(rng, step === 6 ? 0.9 : 0.02);
      const before = coordinator.residual.slice();
      const update = coordinator.encode(step, config, config.learningRate, step - 1, sum, IMAGES);
      coordinator.apply(params, state);
      formats.push(update.packed![0]!);
      const decoded = new Float32Array(PARAMS);
      decodePacked(update.packed!, decoded, 'update.packed');
      const decodedBits = new Uint32Array(decoded.buffer);
      const dense = update.packed![0] === PACKED_FORMAT.denseBf16;
      for (let i = 0; i < PARAMS; i++) {
        const mean = Math.fround(sum[i]! * scale);
        const expected = Math.fround(before[i]! + mean);
        const after = coordinator.residual[i]!;
        given[i]! += mean;
        applied[i]! += decoded[i]!;
        // Written as one check per entry that reports the entry when it fails.
        const ok = (decodedBits[i]! & 0xffff) === 0 && decoded[i]! + after === expected && (dense || mean !== 0 || (decoded[i] === 0 && Object.is(after, before[i])));
        if (!ok) expect({ i, step, sent: decoded[i], after, before: before[i], mean }).toEqual({ i, step, sent: expected, after: 0, before: before[i], mean });
      }
    }
    expect(formats).toEqual([4, 4, 4, 4, 4, 1, 4, 4, 4, 4, 4, 4]);
    // Over the steps: what was applied plus what waits is what was given (rounded only by the float32 adds).
    for (let i = 0; i < PARAMS; i++) expect(applied[i]! + coordinator.residual[i]!).toBeCloseTo(given[i]!, 2);
    // Something did wait: most union entries are not bf16 values.
    expect(coordinator.residual.some((value) => value !== 0)).toBe(true);
  });
});

describe('the coordinator replica\'s arrays (CoordinatorWire.apply)', () => {
  it('updates the model\'s and the optimizer\'s arrays in place when they are the replica\'s: the bits of the copying path', () => {
    const rng = new Rng(5);
    const replica = createReplicaArrays(config, PARAMS);
    const [inPlace, copying] = [new CoordinatorWire('topk', PARAMS, 0, replica), new CoordinatorWire('topk', PARAMS, 0)];
    const names = replicaStateNames(config);
    const start = Float32Array.from({ length: PARAMS }, () => rng.nextFloat() - 0.5);
    replica.params.set(start);
    const shared = { params: replica.params, state: Object.fromEntries(names.map((name, i) => [name, replica.state[i]!])) };
    const own = { params: start.slice(), state: Object.fromEntries(names.map((name) => [name, new Float32Array(PARAMS)])) };
    for (let step = 1; step <= 6; step++) {
      const sum = sparseSum(rng, 0.05);
      const updates = [inPlace.encode(step, config, config.learningRate, step - 1, sum, IMAGES), copying.encode(step, config, config.learningRate, step - 1, sum, IMAGES)];
      expect(updates[0]!.packed).toEqual(updates[1]!.packed);
      inPlace.apply(shared.params, shared.state);
      copying.apply(own.params, own.state);
      expect(replicaHash(shared.params)).toBe(replicaHash(own.params));
      for (const name of names) expect(replicaHash(shared.state[name]!)).toBe(replicaHash(own.state[name]!));
    }
    expect(replicaHash(shared.params)).not.toBe(replicaHash(start));
    expect(shared.params).toBe(replica.params);
  });
});

describe('topk download from the answers\' indices', () => {
  /** `workers` ascending index lists of about `density` each, and their sum (bf16-like values, some cancelling to 0). */
  function answers(rng: Rng, workers: number, density: number): { lists: Uint32Array[]; sum: Float32Array } {
    const sum = new Float32Array(PARAMS);
    const lists = Array.from({ length: workers }, (_, w) => {
      const list = Uint32Array.from(Array.from({ length: PARAMS }, (_, i) => i).filter(() => rng.nextFloat() < density));
      // Worker 1 repeats some of worker 0's entries with the opposite value: a union entry whose sum is 0.
      for (const i of list) sum[i] = w === 1 && i % 3 === 0 && sum[i] !== 0 ? 0 : sum[i]! + (rng.nextFloat() - 0.5) * 2 ** (8 * rng.nextFloat());
      return list;
    });
    return { lists, sum };
  }

  it('gives the frames and replica updates of the scan, step after step, through a dense frame and back', () => {
    const rng = new Rng(8);
    const [fromIndices, fromScan] = [new CoordinatorWire('topk', PARAMS, 0), new CoordinatorWire('topk', PARAMS, 0)];
    const replicas = [0, 1].map(() => ({ params: new Float32Array(PARAMS), state: Object.fromEntries(replicaStateNames(config).map((name) => [name, new Float32Array(PARAMS)])) }));
    const formats: number[] = [];
    // Step 4 unites 5 answers at 50% (dense), step 6 32 answers at 1% (bench:load's step).
    for (let step = 1; step <= 8; step++) {
      const { lists, sum } = answers(rng, step === 4 ? 5 : step === 6 ? 32 : 2, step === 4 ? 0.5 : 0.01 * (step === 6 ? 1 : 2));
      const updates = [fromIndices.encode(step, config, config.learningRate, step - 1, sum, IMAGES, lists), fromScan.encode(step, config, config.learningRate, step - 1, sum, IMAGES)];
      expect(updates[0]!.packed).toEqual(updates[1]!.packed);
      expect(fromIndices.residual).toEqual(fromScan.residual);
      fromIndices.apply(replicas[0]!.params, replicas[0]!.state);
      fromScan.apply(replicas[1]!.params, replicas[1]!.state);
      expect(replicaHash(replicas[0]!.params)).toBe(replicaHash(replicas[1]!.params));
      formats.push(updates[0]!.packed[0]!);
    }
    expect(formats).toEqual([4, 4, 4, 1, 4, 4, 4, 4]);
  });

  it('unionOf: the ascending union, each entry once (against a Set, sorted), and the bitset left all 0', () => {
    const rng = new Rng(4);
    for (const paramCount of [1, 31, 32, 33, 500, 1_000, 1_024]) {
      const all = Uint32Array.from({ length: paramCount }, (_, i) => i);
      const list = (density: number) => all.filter(() => rng.nextFloat() < density);
      const cases: [string, Uint32Array[]][] = [
        ['no lists', []],
        ['one empty list', [new Uint32Array(0)]],
        ['one list', [list(0.1)]],
        ['two lists', [list(0.1), list(0.1)]],
        ['an empty list and a dense one', [list(0), list(0.3)]],
        ['every index, twice', [all, all]],
        ['the first and the last index', [Uint32Array.of(0), Uint32Array.of(paramCount - 1), Uint32Array.of(0)]],
        ['32 lists at 1%', Array.from({ length: 32 }, () => list(0.01))],
        ['5 lists at 50%', Array.from({ length: 5 }, () => list(0.5))],
      ];
      const words = new Uint32Array(unionWords(paramCount));
      for (const [name, lists] of cases) {
        const out = new Uint32Array(paramCount).fill(0xffffffff);
        const count = unionOf(lists, words, out);
        const expected = [...new Set(lists.flatMap((l) => [...l]))].sort((x, y) => x - y);
        expect({ paramCount, name, union: [...out.subarray(0, count)] }).toEqual({ paramCount, name, union: expected });
        expect(words.every((word) => word === 0)).toBe(true);
      }
    }
  });
});

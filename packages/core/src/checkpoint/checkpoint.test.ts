import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createReferenceKernels } from '../kernels/reference.js';
import { createOptimizer } from '../optimizers/create.js';
import { MNIST_CNN } from '../spec.js';
import { type Checkpoint, CheckpointError, checkpointMessageType, decodeCheckpoint, encodeCheckpoint } from './checkpoint.js';
import { readCheckpoint, writeCheckpointAtomic, writeCheckpointAtomicSync } from './file.js';

const temp = mkdtempSync(join(tmpdir(), 'convoy-checkpoint-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** A checkpoint whose every field differs from its default, with float edge cases in the parameters. */
function sampleCheckpoint(paramCount = 6): Checkpoint {
  const parameters = new Float32Array(paramCount);
  const special = [-0, 1e-45 /* denormal */, -3.4028234663852886e38, Number.POSITIVE_INFINITY, 0.1, Number.NaN];
  for (let i = 0; i < paramCount; i++) parameters[i] = special[i] ?? Math.sin(i) * 0.05;
  const accumulatedGrad = parameters.map((value, i) => i * 0.25);
  const accumulatedDelta = parameters.map((value, i) => -i / 3);
  return {
    createdAt: '2026-11-28T04:30:00.000Z',
    modelSpec: MNIST_CNN,
    parameters,
    optimizer: { name: 'adadelta', config: { name: 'adadelta', learningRate: 1, rho: 0.95, epsilon: 1e-7 }, iterations: 4321, state: { accumulatedGrad, accumulatedDelta } },
    epoch: 3,
    step: 2 ** 40 + 7, // more than uint32 (the field is uint64)
    batchInEpoch: 17,
    rngState: [0xffffffff, 1, 0x80000000, 12345],
    seed: 42,
    globalBatchSize: 256,
    datasetHash: 'ab'.repeat(32),
    settings: { workers: 2, optimizer: 'adadelta', lr: 1 },
    historyBytes: 2 ** 33 + 5, // more than uint32 (the field is uint64)
    history: [{ type: 'step', step: 1, loss: 2.3 }, { type: 'epoch', epoch: 0, validationAccuracy: 0.98 }],
  };
}

/** The exact bytes of a float array (so -0, NaN payloads and denormals compare exactly, and fast). */
function bytesOf(array: Float32Array): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

function expectSameBits(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  expect(bytesOf(actual).equals(bytesOf(expected))).toBe(true);
}

function expectSame(actual: Checkpoint, expected: Checkpoint): void {
  const { parameters, optimizer, ...rest } = actual;
  const { parameters: expectedParameters, optimizer: expectedOptimizer, ...expectedRest } = expected;
  expect(rest).toEqual(expectedRest);
  expectSameBits(parameters, expectedParameters);
  expect({ ...optimizer, state: undefined }).toEqual({ ...expectedOptimizer, state: undefined });
  expect(Object.keys(optimizer.state)).toEqual(Object.keys(expectedOptimizer.state));
  for (const name of Object.keys(expectedOptimizer.state)) expectSameBits(optimizer.state[name]!, expectedOptimizer.state[name]!);
}

/** Seals a hand-made message the way the format says: append field 1000 = SHA-256 of the bytes before it. */
function seal(message: Record<string, unknown>): Uint8Array {
  const body = checkpointMessageType().encode(message).finish();
  const digest = createHash('sha256').update(body).digest();
  return Uint8Array.from([...body, 0xc2, 0x3e, 0x20, ...digest]);
}

function goodMessage(): Record<string, unknown> {
  return {
    magic: 'convoy-checkpoint',
    formatVersion: 1,
    modelSpecJson: '{}',
    paramCount: 2,
    parameters: new Uint8Array(8),
    optimizer: { name: 'sgd', configJson: '{}', iterations: 0, state: [{ name: 'velocity', data: new Uint8Array(8) }] },
    rngState: [1, 2, 3, 4],
  };
}

function checkpointError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as CheckpointError).code).toBe('BAD_CHECKPOINT');
    expect((error as Error).message).not.toContain('\n');
    return (error as Error).message;
  }
  throw new Error('expected a CheckpointError, nothing was thrown');
}

describe('checkpoint encoding', () => {
  it('round trip keeps every field and the exact float bits; re-encoding gives the same bytes', () => {
    const original = sampleCheckpoint();
    const bytes = encodeCheckpoint(original);
    const decoded = decodeCheckpoint(bytes);
    expectSame(decoded, original);
    expect(Buffer.from(encodeCheckpoint(decoded)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('the file starts with the magic and version fields and ends with the SHA-256 of the rest', () => {
    const bytes = encodeCheckpoint(sampleCheckpoint());
    expect(Buffer.from(bytes.subarray(0, 21)).toString('latin1')).toBe('\n\x11convoy-checkpoint\x10\x01');
    const body = bytes.subarray(0, bytes.length - 35);
    expect(Array.from(bytes.subarray(bytes.length - 35, bytes.length - 32))).toEqual([0xc2, 0x3e, 0x20]);
    expect(Buffer.from(bytes.subarray(bytes.length - 32)).equals(createHash('sha256').update(body).digest())).toBe(true);
  });

  it('the default model size (1,199,882 params, 2 state arrays) round-trips, also from unaligned bytes', () => {
    const original = sampleCheckpoint(1_199_882);
    const bytes = encodeCheckpoint(original);
    expect(bytes.length).toBeGreaterThan(3 * 4 * 1_199_882);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    // NOTE: a Buffer too: protobufjs then hands out Buffer views, whose slice() is no copy.
    for (const source of [bytes, shifted.subarray(1), Buffer.from(shifted.buffer, 1, bytes.length)]) {
      const decoded = decodeCheckpoint(source);
      for (const array of [decoded.parameters, ...Object.values(decoded.optimizer.state)]) {
        expect(array).toBeInstanceOf(Float32Array);
        expect(array.byteOffset % 4).toBe(0);
      }
      expectSame(decoded, original);
    }
  });

  it('encode rejects state arrays that do not match the parameters, and a 3-word RNG state', () => {
    const checkpoint = sampleCheckpoint();
    const badState = { ...checkpoint, optimizer: { ...checkpoint.optimizer, state: { m: new Float32Array(5) } } };
    expect(checkpointError(() => encodeCheckpoint(badState))).toBe('checkpoint: optimizer state "m" holds 5 values, the parameters 6');
    const badRng = { ...checkpoint, rngState: [1, 2, 3] as unknown as Checkpoint['rngState'] };
    expect(checkpointError(() => encodeCheckpoint(badRng))).toBe('checkpoint: rngState must hold 4 words, got 3');
  });
});

describe('checkpoint and optimizer', () => {
  it('an Adam optimizer saved after 2 updates and restored from the decoded checkpoint continues bit for bit', () => {
    const kernels = createReferenceKernels();
    const params = kernels.allocate(4);
    params.set([0.5, -0.25, 1, 2]);
    const gradient = kernels.allocate(4);
    const optimizer = createOptimizer({ name: 'adam', learningRate: 0.01 }, kernels, 4);
    for (const g of [[1, 2, 3, 4], [-1, 0.5, 0, 2]]) {
      gradient.set(g);
      optimizer.apply(params, gradient);
    }
    const saved = { ...sampleCheckpoint(4), parameters: params.slice(), optimizer: { name: optimizer.name, config: optimizer.config, iterations: optimizer.iterations, state: optimizer.state } };
    const decoded = decodeCheckpoint(encodeCheckpoint(saved));

    gradient.set([0.5, 0.5, -2, 1]);
    optimizer.apply(params, gradient);

    const resumed = createOptimizer(decoded.optimizer.config, kernels, 4);
    resumed.restore(decoded.optimizer.iterations, decoded.optimizer.state);
    const resumedParams = kernels.allocate(4);
    resumedParams.set(decoded.parameters);
    resumed.apply(resumedParams, gradient);
    expect(resumed.config).toEqual(optimizer.config);
    expectSameBits(resumedParams, params);
  });
});

describe('checkpoint errors', () => {
  const bytes = encodeCheckpoint(sampleCheckpoint(100));

  it('truncated anywhere (mid-field, at the last field boundary, one byte short)', () => {
    for (const length of [30, 200, 500, bytes.length - 35, bytes.length - 1]) {
      expect(checkpointError(() => decodeCheckpoint(bytes.subarray(0, length), 'run/c.ckpt'))).toBe(
        `run/c.ckpt: truncated or corrupt (${length} bytes, SHA-256 check failed)`,
      );
    }
    expect(checkpointError(() => decodeCheckpoint(bytes.subarray(0, 19)))).toMatch(/truncated or corrupt: no format version/);
  });

  it('one flipped bit in the parameters', () => {
    const corrupt = bytes.slice();
    corrupt[300]! ^= 0x04;
    expect(checkpointError(() => decodeCheckpoint(corrupt))).toMatch(/^checkpoint: truncated or corrupt \(\d+ bytes, SHA-256 check failed\)$/);
  });

  it('not a checkpoint: a PNG, an empty file', () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    expect(checkpointError(() => decodeCheckpoint(png, 'x.png'))).toBe('x.png: not a Convoy checkpoint (it starts with 89 50 4e 47 0d 0a 1a 0a)');
    expect(checkpointError(() => decodeCheckpoint(new Uint8Array(0), 'x'))).toBe('x: empty file, not a Convoy checkpoint');
  });

  it('a newer or older format version names both versions', () => {
    expect(checkpointError(() => decodeCheckpoint(seal({ ...goodMessage(), formatVersion: 2 })))).toBe(
      'checkpoint: checkpoint format version 2 (newer), this Convoy reads version 1',
    );
    // proto3 does not write a zero, so version 0 means the field is missing.
    expect(checkpointError(() => decodeCheckpoint(seal({ ...goodMessage(), formatVersion: 0 })))).toMatch(/truncated or corrupt: no format version/);
  });

  it('param_count that does not match the parameter bytes', () => {
    expect(checkpointError(() => decodeCheckpoint(seal({ ...goodMessage(), paramCount: 3 })))).toBe(
      'checkpoint: param_count 3 needs 12 bytes of parameters, the file holds 8',
    );
    const badState = { ...goodMessage(), optimizer: { name: 'sgd', configJson: '{}', state: [{ name: 'velocity', data: new Uint8Array(4) }] } };
    expect(checkpointError(() => decodeCheckpoint(seal(badState)))).toBe('checkpoint: optimizer state "velocity" holds 4 bytes, param_count 2 needs 8');
  });

  it('missing optimizer, unknown optimizer, bad JSON, short RNG state', () => {
    expect(checkpointError(() => decodeCheckpoint(seal({ ...goodMessage(), optimizer: undefined })))).toBe('checkpoint: no optimizer state');
    expect(checkpointError(() => decodeCheckpoint(seal({ ...goodMessage(), optimizer: { name: 'lbfgs' } })))).toMatch(/unknown optimizer "lbfgs"/);
    expect(checkpointError(() => decodeCheckpoint(seal({ ...goodMessage(), modelSpecJson: '{"input":' })))).toMatch(
      /^checkpoint: model_spec_json is not valid JSON/,
    );
    expect(checkpointError(() => decodeCheckpoint(seal({ ...goodMessage(), rngState: [1, 2] })))).toBe('checkpoint: rng_state holds 2 words, expected 4');
  });

  it('a minimal hand-made checkpoint decodes (empty history and settings)', () => {
    const decoded = decodeCheckpoint(seal(goodMessage()));
    expect(decoded.history).toEqual([]);
    expect(decoded.historyBytes).toBe(0);
    expect(decoded.settings).toEqual({});
    expect(Array.from(decoded.parameters)).toEqual([0, 0]);
  });
});

describe('checkpoint files', () => {
  it('atomic write (sync and async) leaves only the target, which reads back the same', async () => {
    const folder = mkdtempSync(join(temp, 'atomic-'));
    const path = join(folder, 'step-100.ckpt');
    writeFileSync(path, 'the previous checkpoint');
    const checkpoint = sampleCheckpoint();
    writeCheckpointAtomicSync(path, checkpoint);
    expect(readdirSync(folder)).toEqual(['step-100.ckpt']);
    expectSame(readCheckpoint(path), checkpoint);

    const later = { ...checkpoint, step: 101 };
    await writeCheckpointAtomic(path, later);
    expect(readdirSync(folder)).toEqual(['step-100.ckpt']);
    expect(readCheckpoint(path).step).toBe(101);
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(encodeCheckpoint(later)))).toBe(true);
  });

  it('a write into a missing folder fails with a one-line error and leaves nothing', async () => {
    const path = join(temp, 'no-such-folder', 'c.ckpt');
    expect(checkpointError(() => writeCheckpointAtomicSync(path, sampleCheckpoint()))).toBe(`${path}: cannot write checkpoint (ENOENT)`);
    await expect(writeCheckpointAtomic(path, sampleCheckpoint())).rejects.toThrow(`${path}: cannot write checkpoint (ENOENT)`);
  });

  it('reading a missing file or a garbage file names the path', () => {
    const missing = join(temp, 'missing.ckpt');
    expect(checkpointError(() => readCheckpoint(missing))).toBe(`${missing}: checkpoint not found`);
    const garbage = join(temp, 'garbage.ckpt');
    writeFileSync(garbage, 'hello, world');
    expect(checkpointError(() => readCheckpoint(garbage))).toBe(`${garbage}: not a Convoy checkpoint (it starts with 68 65 6c 6c 6f 2c 20 77)`);
  });
});

import { describe, expect, it } from 'vitest';
import { MNIST_CNN } from '../spec.js';
import { FrameWriter, decodeFrame, encodeMessage, layout } from './codec.js';
import { MAX_RUNTIME, allFinite } from './fields.js';
import { LAYER_TYPES } from '../layers/registry.js';
import type { Message } from './messages.js';
import { DEFAULT_LIMITS, FROM_WORKER, MAX_WORKER_THREADS, PROTOCOL_VERSION, type ProtocolLimits, decodeMessage, parseMessage, ProtocolError } from './index.js';

const PARAMS = 6;
const limits: ProtocolLimits = { ...DEFAULT_LIMITS, paramCount: PARAMS, maxSliceLength: 8 };

const floats = (...values: number[]) => Float32Array.from(values);
const runRecord = {
  kind: 'run', runId: 'r', startTime: 1, spec: MNIST_CNN, paramCount: 10, optimizer: { name: 'adam', learningRate: 0.001 },
  globalBatch: 64, epochs: 2, stepsPerEpoch: 10, totalSteps: 20, seed: 1, trainSize: 640, validationSize: 100, testSize: 100,
  kernels: 'ts', localWorkers: 2, resumedFromStep: 0, outDir: '/tmp/x',
} as const;
const stepRecord = {
  kind: 'step', step: 1, epoch: 1, loss: 2.3, accuracy: 0.1, images: 64, imagesSeen: 64, imagesPerSecond: 500, learningRate: 0.001,
  stepMs: 12, workers: 2, time: 5,
} as const;
const epochRecord = {
  kind: 'epoch', epoch: 1, step: 10, trainLoss: 1, trainAccuracy: 0.5, validationLoss: 0.9, validationAccuracy: 0.6,
  confusion: new Array(100).fill(1), misclassified: [{ index: 3, label: 1, predicted: 7, pixels: new Uint8Array(784) }],
  elapsedSeconds: 3, time: 6,
} as const;
const row = {
  id: 1, name: 'w', address: '127.0.0.1:5', state: 'computing', kernels: 'ts', imagesPerSecond: 10, lastStepMs: 4, sliceSize: 32,
  bytesIn: 10, bytesOut: 20, heartbeatAgeMs: 1,
} as const;

/** One valid example of every message type. */
const VALID: Record<Message['type'], Record<string, unknown>> = {
  hello: { type: 'hello', protocol: PROTOCOL_VERSION, token: 't', name: 'w1', datasetHash: 'abc', kernels: 'ts', threads: 2 },
  gradient: { type: 'gradient', step: 3, round: 7, count: 2, lossSum: 4.5, correct: 1, gradient: floats(1, 2, 3, 4, 5, 6), computeMs: 3, decodeMs: 1, phases: { previousEncodeMs: 2.5, previousSendMs: 0.5, waitMs: 7, cpuPercent: 97.5, rssBytes: 123_456_789 } },
  evaluation: { type: 'evaluation', round: 2, count: 3, lossSum: 1, correct: 2, predictions: Uint8Array.from([1, 2, 3]), computeMs: 1 },
  leave: { type: 'leave', reason: 'Ctrl-C' },
  welcome: { type: 'welcome', protocol: 1, workerId: 4, spec: MNIST_CNN, paramCount: PARAMS, datasetHash: 'abc', sendingDataset: false, heartbeatMs: 1000 },
  dataset: {
    type: 'dataset', hash: 'h', height: 2, width: 2, trainPixels: new Uint8Array(8), trainLabels: Uint8Array.from([1, 2]),
    testPixels: new Uint8Array(4), testLabels: Uint8Array.from([3]),
  },
  step: { type: 'step', step: 1, round: 1, epoch: 1, version: 0, params: floats(0, 0, 0, 0, 0, 0), indices: Uint32Array.from([5, 9]), dropoutSeeds: Uint32Array.from([1, 2]) },
  evaluate: { type: 'evaluate', round: 1, split: 'test', version: 3, indices: Uint32Array.from([9999]) },
  update: { type: 'update', version: 4, learningRate: 1, correction1: 1, correction2: 1, packed: Uint8Array.from([3, 0, 0, 0, ...new Uint8Array(new Float32Array([1, 0, 0, 0, 0, -2]).buffer)]), gradient: new Float32Array(0) },
  stop: { type: 'stop', reason: 'done' },
  error: { type: 'error', code: 'X', message: 'bad', fatal: true },
  subscribe: { type: 'subscribe', protocol: 1 },
  metrics: { type: 'metrics', record: stepRecord },
  snapshot: { type: 'snapshot', run: runRecord, steps: [stepRecord], epochs: [epochRecord], test: null, workers: [row], events: [], end: null, timings: [] },
};
const OPTIONAL = new Set(['hello.token', 'hello.threads', 'gradient.phases', 'step.params', 'evaluate.params', 'subscribe.token', 'snapshot.timings']);

function codeOf(value: unknown, parseLimits = limits): string {
  try {
    parseMessage(value, parseLimits);
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as ProtocolError).code;
  }
  return 'accepted';
}

describe('parseMessage accepts', () => {
  for (const [type, message] of Object.entries(VALID)) {
    it(`a valid ${type} message, also after a trip through the codec`, () => {
      // A packed field is parsed into `gradient` (empty on the wire).
      const parsed = type === 'update' ? { ...message, gradient: floats(1, 0, 0, 0, 0, -2) } : message;
      expect(parseMessage(message, limits)).toEqual(parsed);
      expect(parseMessage(decodeFrame(encodeMessage(message as unknown as Message)), limits)).toEqual(parsed);
    });
  }

  it('a welcome whose spec holds every registered layer type (the spec check reads the registry, so no worker refuses a new type)', () => {
    const layers = LAYER_TYPES.map((type) => ({ type }));
    const welcome = { ...VALID.welcome, spec: { input: [1, 28, 28], layers } };
    expect(parseMessage(welcome, limits)).toEqual(welcome);
    expect(codeOf({ ...VALID.welcome, spec: { input: [1, 28, 28], layers: [...layers, { type: 'conv3d' }] } })).toBe('BAD_FIELD');
  });
});

describe('parseMessage rejects every field when wrong', () => {
  for (const [type, message] of Object.entries(VALID)) {
    for (const key of Object.keys(message).filter((key) => key !== 'type')) {
      it(`${type}.${key}: missing, or of the wrong type`, () => {
        const { [key]: _removed, ...without } = message;
        expect(codeOf(without)).toBe(OPTIONAL.has(`${type}.${key}`) ? 'accepted' : 'MISSING_FIELD');
        // A value no field accepts: an object where a scalar or array is expected, a string where an object is.
        const wrong = typeof message[key] === 'object' && message[key] !== null && !ArrayBuffer.isView(message[key]) && !Array.isArray(message[key]) ? 'x' : { nested: true };
        expect(codeOf({ ...message, [key]: wrong })).toMatch(/^(BAD_FIELD|NOT_AN_OBJECT|MISSING_FIELD)$/);
      });
    }
  }

  it('non-objects, unknown types and types this receiver does not accept', () => {
    for (const value of [null, 3, 'hello', [1, 2], new Uint8Array(3)]) expect(codeOf(value)).toBe('NOT_AN_OBJECT');
    expect(codeOf({ type: 'teleport' })).toBe('UNKNOWN_TYPE');
    expect(codeOf(VALID.step, { ...limits, accept: FROM_WORKER })).toBe('UNEXPECTED_MESSAGE');
    expect(codeOf(VALID.gradient, { ...limits, paramCount: undefined })).toBe('UNEXPECTED_MESSAGE');
  });

  it('gradients with NaN or Infinity, or of the wrong length', () => {
    expect(codeOf({ ...VALID.gradient, gradient: floats(1, 2, NaN, 4, 5, 6) })).toBe('NOT_FINITE');
    expect(codeOf({ ...VALID.gradient, gradient: floats(1, 2, 3, 4, 5, Infinity) })).toBe('NOT_FINITE');
    expect(codeOf({ ...VALID.gradient, gradient: floats(-Infinity, 2, 3, 4, 5, 6) })).toBe('NOT_FINITE');
    expect(codeOf({ ...VALID.gradient, gradient: floats(1, 2, 3, 4, 5) })).toBe('BAD_LENGTH');
    expect(codeOf({ ...VALID.gradient, gradient: new Float64Array(PARAMS) })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.gradient, lossSum: NaN })).toBe('NOT_FINITE');
    expect(codeOf({ ...VALID.gradient, lossSum: -1 })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.step, params: floats(0, 0, NaN, 0, 0, 0) })).toBe('NOT_FINITE');
  });

  it('counters out of range and counts that do not fit', () => {
    expect(codeOf({ ...VALID.gradient, step: 0 })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.gradient, step: 1.5 })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.gradient, round: -2 })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.gradient, count: 9 })).toBe('BAD_FIELD'); // above maxSliceLength
    expect(codeOf({ ...VALID.gradient, correct: 3 })).toBe('BAD_FIELD'); // more correct than images
    expect(codeOf({ ...VALID.evaluation, predictions: Uint8Array.from([1, 2]) })).toBe('BAD_LENGTH');
    expect(codeOf({ ...VALID.hello, protocol: 70_000 })).toBe('BAD_FIELD');
    for (const threads of [0, 1.5, MAX_WORKER_THREADS + 1, '2']) expect(codeOf({ ...VALID.hello, threads })).toBe('BAD_FIELD');
    for (const threads of [0, 1.5, MAX_WORKER_THREADS + 1]) expect(codeOf({ ...VALID.snapshot, workers: [{ ...row, threads }] })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.snapshot, workers: [{ ...row, threads: 4 }] })).toBe('accepted');
    expect(codeOf({ ...VALID.welcome, heartbeatMs: 10 })).toBe('BAD_FIELD');
  });

  it('indices past the end of their split, empty or too many, and seeds of another length', () => {
    expect(codeOf({ ...VALID.step, indices: Uint32Array.from([60_000, 1]) })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.evaluate, indices: Uint32Array.from([10_000]) })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.evaluate, split: 'train', indices: Uint32Array.from([10_000]) })).toBe('accepted');
    expect(codeOf({ ...VALID.step, indices: new Uint32Array(0), dropoutSeeds: new Uint32Array(0) })).toBe('BAD_LENGTH');
    expect(codeOf({ ...VALID.step, indices: new Uint32Array(9), dropoutSeeds: new Uint32Array(9) })).toBe('BAD_LENGTH');
    expect(codeOf({ ...VALID.step, dropoutSeeds: Uint32Array.from([1]) })).toBe('BAD_LENGTH');
    expect(codeOf({ ...VALID.step, indices: [5, 9] })).toBe('BAD_FIELD'); // a plain list is not a typed array
  });

  it('strings too long, datasets whose pixels do not match their labels, bad records', () => {
    expect(codeOf({ ...VALID.hello, name: 'x'.repeat(257) })).toBe('BAD_LENGTH');
    expect(codeOf({ ...VALID.dataset, trainPixels: new Uint8Array(7) })).toBe('BAD_LENGTH');
    expect(codeOf({ ...VALID.welcome, spec: { input: [1, 28], layers: [] } })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.welcome, spec: { input: [1, 28, 28], layers: [{ type: 'lstm' }] } })).toBe('BAD_FIELD');
    expect(codeOf({ type: 'metrics', record: { ...stepRecord, accuracy: 1.5 } })).toBe('BAD_FIELD');
    expect(codeOf({ type: 'metrics', record: { ...stepRecord, loss: Infinity } })).toBe('NOT_FINITE');
    expect(codeOf({ type: 'metrics', record: { ...epochRecord, confusion: new Array(99).fill(0) } })).toBe('BAD_LENGTH');
    expect(codeOf({ type: 'metrics', record: { ...row, kind: 'workers', workers: [{ ...row, state: 'asleep' }], time: 1 } })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.snapshot, steps: [epochRecord] })).toBe('BAD_FIELD');
  });

  it('gradient.phases: every field checked (negative, not finite, missing)', () => {
    const phases = VALID.gradient['phases'] as Record<string, number>;
    for (const key of Object.keys(phases)) {
      expect(codeOf({ ...VALID.gradient, phases: { ...phases, [key]: -1 } })).toBe('BAD_FIELD');
      expect(codeOf({ ...VALID.gradient, phases: { ...phases, [key]: Number.NaN } })).toMatch(/^(NOT_FINITE|BAD_FIELD)$/);
      const { [key]: _removed, ...without } = phases;
      expect(codeOf({ ...VALID.gradient, phases: without })).toBe('MISSING_FIELD');
    }
    expect(codeOf({ ...VALID.gradient, phases: { ...phases, rssBytes: 1.5 } })).toBe('BAD_FIELD');
  });

  it('timing records: accepted whole, refused with a bad worker entry', () => {
    const worker = { workerId: 2, images: 32, sentMs: 0.4, arrivedMs: 30, decodeMs: 1, computeMs: 25, phases: VALID.gradient['phases'] };
    const timing = { kind: 'timing', step: 4, startTime: 1_700_000_000_000.5, stepMs: 35, waitMs: 30, sumMs: 1, optimizerMs: 3, publishMs: 1, workers: [worker, { ...worker, workerId: 3, phases: null }] };
    expect(codeOf({ type: 'metrics', record: timing })).toBe('accepted');
    expect(codeOf({ type: 'metrics', record: { ...timing, workers: [{ ...worker, arrivedMs: Infinity }] } })).toBe('NOT_FINITE');
    expect(codeOf({ type: 'metrics', record: { ...timing, workers: [{ ...worker, phases: { waitMs: 1 } }] } })).toBe('MISSING_FIELD');
    expect(codeOf({ type: 'metrics', record: { ...timing, stepMs: -1 } })).toBe('BAD_FIELD');
  });

  it('link fields of step records, worker rows and the run record (optional; checked when present)', () => {
    const link = { workerId: 1, bytesDown: 4_800_000, bytesUp: 4_800_000, rttMs: 40.5, downMbps: 94.1, upMbps: 93.8 };
    const step = { ...stepRecord, bytesDown: 9_600_000, bytesUp: 9_600_000, links: [link, { ...link, workerId: 2 }] };
    const parsed = parseMessage(decodeFrame(encodeMessage({ type: 'metrics', record: step } as Message)), DEFAULT_LIMITS);
    expect(parsed).toEqual({ type: 'metrics', record: step });
    const linkedRow = { ...row, rttMs: 40.5, downMbps: 94.1, upMbps: 93.8 };
    expect(parseMessage({ type: 'metrics', record: { kind: 'workers', workers: [linkedRow], time: 1 } }, DEFAULT_LIMITS)).toEqual({ type: 'metrics', record: { kind: 'workers', workers: [linkedRow], time: 1 } });
    expect(parseMessage({ type: 'metrics', record: { ...runRecord, wire: 'topk' } }, DEFAULT_LIMITS)).toMatchObject({ record: { wire: 'topk' } });
    expect(codeOf({ type: 'metrics', record: { ...step, bytesDown: -1 } })).toBe('BAD_FIELD');
    expect(codeOf({ type: 'metrics', record: { ...step, bytesUp: 1.5 } })).toBe('BAD_FIELD');
    expect(codeOf({ type: 'metrics', record: { ...step, links: [{ ...link, rttMs: NaN }] } })).toBe('NOT_FINITE');
    expect(codeOf({ type: 'metrics', record: { ...step, links: [{ ...link, upMbps: -2 }] } })).toBe('BAD_FIELD');
    expect(codeOf({ type: 'metrics', record: { ...step, links: [{ workerId: 1 }] } })).toBe('MISSING_FIELD');
    expect(codeOf({ type: 'metrics', record: { ...step, links: 'many' } })).toBe('BAD_FIELD');
    expect(codeOf({ type: 'metrics', record: { kind: 'workers', workers: [{ ...linkedRow, downMbps: Infinity }], time: 1 } })).toBe('NOT_FINITE');
    expect(codeOf({ type: 'metrics', record: { ...runRecord, wire: 'x'.repeat(65) } })).toBe('BAD_LENGTH');
  });

  it('frames that are not msgpack', () => {
    expect(() => decodeMessage(Uint8Array.from([0x81]), limits)).toThrow(expect.objectContaining({ code: 'BAD_FRAME' }));
    // 0xc1 is "never used" in msgpack; msgpackr decodes it to a marker object, which then is no message.
    expect(() => decodeMessage(Uint8Array.from([0xc1]), limits)).toThrow(ProtocolError);
    expect(() => decodeMessage(encodeMessage(VALID.gradient as unknown as Message).subarray(0, 20), limits)).toThrow(ProtocolError);
  });
});

describe('allFinite', () => {
  it('finds one non-finite value at any position of any length, and passes extreme finite ones', () => {
    for (let length = 1; length <= 9; length++) {
      const extremes = Float32Array.from({ length }, (_, i) => [3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -0][i % 4]!);
      expect(allFinite(extremes)).toBe(true);
      for (let at = 0; at < length; at++) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const values = extremes.slice();
          values[at] = bad;
          expect(allFinite(values), `${bad} at ${at} of ${length}`).toBe(false);
        }
      }
    }
    expect(allFinite(new Float32Array(0))).toBe(true);
  });
});

describe('frames with a large float array', () => {
  const LARGE = 1024; // floats: 4 KiB, the size from which a field goes first, aligned
  const large = (n: number) => Float32Array.from({ length: n }, (_, i) => i / 7 - 50);
  const gradient = { ...VALID.gradient, count: 2, gradient: large(LARGE) } as unknown as Message;
  const bigLimits = { ...limits, paramCount: LARGE };

  it('place the array bytes at a multiple of 4, by the header sizes msgpack allows', () => {
    // "gradient" (8 letters): map16 3 + fixstr 1 + 8 + ext32 7 = 19, so a str8 key (2): 20.
    expect(layout(8)).toEqual({ map32: false, keyHeader: 2, dataOffset: 20 });
    // "params" (6): 3 + 1 + 6 + 7 = 17; 18 and 19 miss too, so map32 (5) and str8 (2): 20.
    expect(layout(6)).toEqual({ map32: true, keyHeader: 2, dataOffset: 20 });
    for (let length = 0; length < 32; length++) expect(layout(length).dataOffset % 4, `key of ${length}`).toBe(0);
  });

  it('are the msgpack bytes written out by hand, the array first', () => {
    const frame = encodeMessage(gradient);
    const fields = Object.keys(gradient).length;
    const bytes = LARGE * 4 + 1;
    const head = [0xde, 0, fields, 0xd9, 8, ...[...'gradient'].map((c) => c.charCodeAt(0)), 0xc9, bytes >>> 24, (bytes >>> 16) & 255, (bytes >>> 8) & 255, bytes & 255, 0x74, 7];
    expect([...frame.subarray(0, 20)]).toEqual(head);
    expect([...frame.subarray(20, 20 + LARGE * 4)]).toEqual([...new Uint8Array(large(LARGE).buffer)]);
    const { gradient: _array, ...rest } = gradient as unknown as Record<string, unknown>;
    const others = encodeMessage(rest as unknown as Message); // a plain map of the other fields
    expect([...frame.subarray(20 + LARGE * 4)]).toEqual([...others.subarray(3)]);
    expect(decodeMessage(frame, bigLimits)).toEqual(gradient);
  });

  it('decode to a view of the frame where aligned, to a copy of equal values where not', () => {
    const frame = encodeMessage(gradient);
    const aligned = decodeMessage(frame, bigLimits) as Extract<Message, { type: 'gradient' }>;
    expect(aligned.gradient.buffer).toBe(frame.buffer);
    const shifted = Buffer.alloc(frame.length + 2).subarray(1, frame.length + 1);
    shifted.set(frame);
    const copied = decodeMessage(shifted, bigLimits) as Extract<Message, { type: 'gradient' }>;
    expect(copied.gradient.buffer).not.toBe(shifted.buffer);
    expect(copied).toEqual(gradient);
  });

  it('leave values that are not plain objects to msgpackr, as any frame a peer may send', () => {
    const floats = large(LARGE);
    for (const value of [null, 7, 'text', [floats, 1], floats]) {
      expect(decodeFrame(encodeMessage(value as unknown as Message))).toEqual(value);
    }
  });

  it('a FrameWriter reuses its buffer once a frame is released, and never while one is out', () => {
    const writer = new FrameWriter();
    const first = writer.encode(gradient);
    const second = writer.encode({ ...gradient, step: 4 } as Message); // the first is still being sent
    expect(second.buffer).not.toBe(first.buffer);
    writer.release(second); // not its buffer: no effect
    expect(writer.encode(gradient).buffer).not.toBe(first.buffer);
    writer.release(first);
    const third = writer.encode({ ...gradient, step: 5 } as Message);
    expect(third.buffer).toBe(first.buffer);
    expect(decodeMessage(third, bigLimits)).toEqual({ ...gradient, step: 5 });
    expect(decodeMessage(second, bigLimits)).toEqual({ ...gradient, step: 4 });
    // Small frames come from msgpackr and leave the buffer alone.
    expect(writer.encode(VALID.stop as unknown as Message).buffer).not.toBe(first.buffer);
  });
});

describe('typed arrays of every kind', () => {
  it('come back equal, as views or copies, at every offset in the frame', () => {
    const arrays = [
      Int8Array.from([-1, 2]), Uint8Array.from([1, 255]), Uint8ClampedArray.from([3, 4]), Int16Array.from([-300, 7]), Uint16Array.from([65535]),
      Int32Array.from([-5, 1 << 30]), Uint32Array.from([4e9]), Float32Array.from([1.5, -0]), Float64Array.from([Math.PI]),
      BigInt64Array.from([-(2n ** 40n)]), BigUint64Array.from([2n ** 63n]),
    ];
    for (const array of arrays) {
      const frame = encodeMessage({ array } as unknown as Message);
      // NOTE: Buffers too, as ws delivers them: a Buffer's slice() is a view, not a copy.
      for (const container of [(n: number) => new Uint8Array(n), (n: number) => Buffer.alloc(n)]) {
        for (let offset = 0; offset < 8; offset++) {
          const placed = container(frame.length + offset + 16).subarray(offset, offset + frame.length);
          placed.set(frame);
          const back = (decodeFrame(placed) as { array: typeof array }).array;
          expect(back, `${array.constructor.name} at ${offset} of a ${placed.constructor.name}`).toEqual(array);
          expect(back.constructor).toBe(array.constructor);
        }
      }
    }
  });

  it('a byte count that is not a whole number of elements is a bad frame', () => {
    const frame = encodeMessage({ type: 'x', array: Float32Array.from([1, 2]) } as unknown as Message);
    const at = frame.findIndex((byte, i) => byte === 0x74 && frame[i + 1] === 7); // ext type, then Float32Array's code
    const cut = Uint8Array.from([...frame.subarray(0, at - 1), 8, 0x74, 7, ...frame.subarray(at + 2, at + 9)]); // 7 bytes of floats
    expect(() => decodeFrame(cut)).toThrow(/not a whole Float32Array/);
  });
});

describe('the --wire fields (compressed gradients, replicas)', () => {
  const sparse = (count: number, values: number[], gaps: number[]) => {
    const bytes = new Uint8Array(8 + 4 * values.length + gaps.length);
    const view = new DataView(bytes.buffer);
    bytes[0] = 2;
    view.setUint32(4, count, true);
    values.forEach((value, j) => view.setFloat32(8 + 4 * j, value, true));
    bytes.set(gaps, 8 + 4 * values.length);
    return bytes;
  };
  const packedGradient = (packed: Uint8Array) => ({ ...VALID.gradient, gradient: new Float32Array(0), packed });

  it('a sparse packed gradient is decoded into `entries` (gradient left empty), a dense one into `gradient`; a replica hash is accepted', () => {
    const parsed = parseMessage({ ...packedGradient(sparse(2, [1.5, -2], [1, 3])), replicaHash: 0xffffffff }, limits);
    expect(parsed).toMatchObject({ gradient: floats(), entries: { indices: Uint32Array.of(1, 4), values: floats(1.5, -2) }, replicaHash: 0xffffffff });
    const bf16 = Uint8Array.of(1, 0, ...[1, 0, 0, 0, 0, 0].flatMap((value) => [0, value === 0 ? 0 : 0x3f]));
    expect(parseMessage(packedGradient(bf16), limits)).toMatchObject({ gradient: floats(0.5, 0, 0, 0, 0, 0) });
    expect(parseMessage(packedGradient(bf16), limits)).not.toHaveProperty('entries');
  });

  it('malformed packed gradients are refused: out of range, duplicate, unsorted, wrong count, NaN, wrong length', () => {
    expect(codeOf(packedGradient(sparse(1, [1], [6])))).toBe('BAD_FIELD'); // index 6 of 6 parameters
    expect(codeOf(packedGradient(sparse(2, [1, 1], [2, 0])))).toBe('BAD_FIELD'); // a repeated index
    expect(codeOf(packedGradient(sparse(2, [1, 1], [4, 0x7f])))).toBe('BAD_FIELD'); // going back (a huge gap passes the end)
    expect(codeOf(packedGradient(sparse(3, [1, 1], [1, 1])))).toBe('BAD_LENGTH');
    expect(codeOf(packedGradient(sparse(1, [NaN], [1])))).toBe('NOT_FINITE');
    expect(codeOf(packedGradient(Uint8Array.of(3, 0, 0, 0, 0, 0, 0, 0)))).toBe('BAD_LENGTH');
    expect(codeOf(packedGradient(new Uint8Array(4 + 4 * PARAMS + 1)))).toBe('BAD_LENGTH');
    // With `packed`, the float32 `gradient` must be empty: one gradient per answer.
    expect(codeOf({ ...packedGradient(sparse(1, [1], [1])), gradient: floats(1, 2, 3, 4, 5, 6) })).toBe('BAD_LENGTH');
    expect(codeOf({ ...VALID.gradient, replicaHash: -1 })).toBe('BAD_FIELD');
  });

  it('welcome: a known codec and a plain optimizer config', () => {
    const welcome = { ...VALID.welcome, wire: 'topk', optimizer: { name: 'adadelta', learningRate: 1, rho: 0.95, epsilon: 1e-7 } };
    expect(parseMessage(welcome, limits)).toEqual(welcome);
    expect(codeOf({ ...welcome, wire: 'zip' })).toBe('BAD_FIELD');
    expect(codeOf({ ...welcome, optimizer: { name: 'lion' } })).toBe('BAD_FIELD');
    expect(codeOf({ ...welcome, optimizer: { name: 'adam', beta1: { deep: 1 } } })).toBe('BAD_FIELD');
    expect(codeOf({ ...welcome, optimizer: { name: 'adam', beta1: NaN } })).toBe('NOT_FINITE');
  });

  it('step and evaluate: optimizer state only beside params, of the parameter count; density in (0, 1]', () => {
    const full = { ...VALID.step, state: [floats(1, 2, 3, 4, 5, 6), floats(0, 0, 0, 0, 0, 0)], iterations: 9, density: 0.01 };
    expect(parseMessage(full, limits)).toEqual(full);
    const withoutParams = { ...full, params: undefined };
    expect(codeOf(withoutParams)).toBe('BAD_FIELD');
    expect(codeOf({ ...full, state: [floats(1, 2, 3)] })).toBe('BAD_LENGTH');
    expect(codeOf({ ...full, state: [floats(1, 2, 3, 4, 5, NaN)] })).toBe('NOT_FINITE');
    expect(codeOf({ ...full, iterations: undefined })).toBe('MISSING_FIELD');
    expect(codeOf({ ...full, density: 0 })).toBe('BAD_FIELD');
    expect(codeOf({ ...full, density: 1.5 })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.evaluate, params: floats(0, 0, 0, 0, 0, 0), state: [floats(0, 0, 0, 0, 0, 0)], iterations: 0 })).toBe('accepted');
  });

  it('update: scalars in range and a packed gradient', () => {
    expect(codeOf({ ...VALID.update, version: 0 })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.update, correction1: 0 })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.update, learningRate: Infinity })).toBe('NOT_FINITE');
    expect(codeOf({ ...VALID.update, packed: sparse(1, [Infinity], [0]) })).toBe('NOT_FINITE');
    expect(parseMessage({ ...VALID.update, packed: sparse(2, [1.5, -2], [1, 3]) }, limits)).toMatchObject({
      gradient: floats(),
      entries: { indices: Uint32Array.of(1, 4), values: floats(1.5, -2) },
    });
    expect(codeOf(VALID.update, { ...limits, accept: FROM_WORKER })).toBe('UNEXPECTED_MESSAGE');
  });
});

describe('capabilities in hello and the workers table (optional: older peers send none)', () => {
  const capable = { ...VALID.hello, runtime: 'chrome 131', simd: true, relaxedSimd: false };

  it('runtime, simd and relaxedSimd pass when valid, through the codec too, and may be absent', () => {
    expect(parseMessage(capable, limits)).toEqual(capable);
    expect(parseMessage(decodeFrame(encodeMessage(capable as unknown as Message)), limits)).toEqual(capable);
    expect(parseMessage(VALID.hello, limits)).not.toHaveProperty('runtime');
    const withRuntime = { ...row, runtime: 'node 20.19.2' };
    expect(parseMessage({ ...VALID.snapshot, workers: [withRuntime] }, limits)).toEqual({ ...VALID.snapshot, workers: [withRuntime] });
  });

  it('each refused when of the wrong type or too long', () => {
    expect(codeOf({ ...capable, runtime: 131 })).toBe('BAD_FIELD');
    expect(codeOf({ ...capable, runtime: 'x'.repeat(MAX_RUNTIME + 1) })).toBe('BAD_LENGTH');
    expect(codeOf({ ...capable, runtime: 'x'.repeat(MAX_RUNTIME) })).toBe('accepted');
    expect(codeOf({ ...capable, simd: 'yes' })).toBe('BAD_FIELD');
    expect(codeOf({ ...capable, relaxedSimd: 1 })).toBe('BAD_FIELD');
    expect(codeOf({ ...VALID.snapshot, workers: [{ ...row, runtime: false }] })).toBe('BAD_FIELD');
  });
});

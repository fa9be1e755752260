/**
 * `parseMessage`: the one gate between decoded bytes and the program. It checks every
 * field of every message (type, integer ranges, string lengths, array lengths equal to
 * the parameter count, finite floats only) and throws a ProtocolError with a code
 * otherwise. A gradient holding one NaN or Infinity never reaches the optimizer.
 */
import { decodeFrame } from './codec.js';
import { checkMetricsRecord, checkPhases, checkSpec, checkWorkerRow } from './parse-metrics.js';
import type {
  EpochRecord,
  EventRecord,
  EndRecord,
  Message,
  MessageType,
  RunRecord,
  StepRecord,
  TestRecord,
  TimingRecord,
} from './messages.js';
import { HEARTBEAT_MS_LIMITS, MAX_WORKER_THREADS, MNIST_TRAIN_IMAGES, isMessageType } from './messages.js';
import { Fields, MAX_COUNTER, MAX_RUNTIME, ProtocolError } from './fields.js';
import { WIRE_CODECS } from '../wire/codecs.js';
import { decodePacked, decodeSparseEntries, maxPackedBytes, type SparseEntries } from '../wire/packed.js';

export { ProtocolError } from './fields.js';
export type { ProtocolErrorCode } from './fields.js';

export interface ProtocolLimits {
  /** Length of params and gradients. Unknown (undefined) before `welcome`: such messages are then refused. */
  readonly paramCount?: number;
  /** Most images in one step or evaluate slice. */
  readonly maxSliceLength: number;
  /** Image indices must be below these (MNIST: 60,000 and 10,000). */
  readonly trainCount: number;
  readonly testCount: number;
  /** Most bytes of pixels in a dataset message. */
  readonly maxDatasetBytes: number;
  /** Message types this receiver accepts; anything else is refused (e.g. a dashboard sending a gradient). */
  readonly accept?: ReadonlySet<MessageType>;
}

export const DEFAULT_LIMITS: ProtocolLimits = {
  maxSliceLength: 65_536,
  trainCount: MNIST_TRAIN_IMAGES,
  testCount: 10_000,
  maxDatasetBytes: 70_000 * 28 * 28,
};

const MAX_TEXT = 1024;

/**
 * Decodes one frame and parses it. Any failure is a ProtocolError. With an `accept` set
 * (FROM_WORKER, ...) the result is typed as that set's messages: parseMessage refuses others.
 */
export function decodeMessage<T extends MessageType>(bytes: Uint8Array, limits: ProtocolLimits & { readonly accept: ReadonlySet<T> }): Extract<Message, { type: T }>;
export function decodeMessage(bytes: Uint8Array, limits: ProtocolLimits): Message;
export function decodeMessage(bytes: Uint8Array, limits: ProtocolLimits): Message {
  let value: unknown;
  try {
    value = decodeFrame(bytes);
  } catch (error) {
    throw new ProtocolError('BAD_FRAME', `undecodable msgpack frame (${(error as Error).message})`);
  }
  return parseMessage(value, limits);
}

export function parseMessage(value: unknown, limits: ProtocolLimits): Message {
  const fields = Fields.of(value, 'message');
  const type = fields.string('type', 32);
  if (limits.accept && !limits.accept.has(type as MessageType)) {
    throw new ProtocolError('UNEXPECTED_MESSAGE', `message type "${type}" is not accepted here`);
  }
  if (!isMessageType(type)) throw new ProtocolError('UNKNOWN_TYPE', `unknown message type "${type}"`);
  switch (type) {
    case 'hello': {
      const token = fields.optional('token', () => fields.string('token', MAX_TEXT));
      const threads = fields.optional('threads', () => fields.integer('threads', 1, MAX_WORKER_THREADS));
      const runtime = fields.optional('runtime', () => fields.string('runtime', MAX_RUNTIME));
      const simd = fields.optional('simd', () => fields.boolean('simd'));
      const relaxedSimd = fields.optional('relaxedSimd', () => fields.boolean('relaxedSimd'));
      return {
        type,
        protocol: fields.integer('protocol', 0, 65_535),
        ...(token === undefined ? {} : { token }),
        name: fields.string('name', 256),
        datasetHash: fields.nullable('datasetHash', () => fields.string('datasetHash', 128)),
        kernels: fields.string('kernels', 64),
        ...(threads === undefined ? {} : { threads }),
        ...(runtime === undefined ? {} : { runtime }),
        ...(simd === undefined ? {} : { simd }),
        ...(relaxedSimd === undefined ? {} : { relaxedSimd }),
      };
    }
    case 'gradient': {
      const paramCount = requireParamCount(limits, type);
      const count = fields.integer('count', 1, limits.maxSliceLength);
      const phases = fields.optional('phases', () => checkPhases(fields.get('phases'), 'gradient.phases'));
      return {
        type,
        step: fields.integer('step', 1, MAX_COUNTER),
        round: fields.integer('round', 1, MAX_COUNTER),
        count,
        lossSum: fields.finite('lossSum', 0, Number.MAX_VALUE),
        correct: fields.integer('correct', 0, count),
        ...packedGradient(fields, 'gradient', paramCount),
        computeMs: fields.finite('computeMs', 0, 1e9),
        decodeMs: fields.finite('decodeMs', 0, 1e9),
        ...(phases === undefined ? {} : { phases }),
        ...optionalField('replicaHash', fields.optional('replicaHash', () => fields.integer('replicaHash', 0, 0xffffffff))),
      };
    }
    case 'evaluation': {
      const count = fields.integer('count', 1, limits.maxSliceLength);
      const predictions = fields.bytes('predictions', count, count);
      for (const predicted of predictions) {
        if (predicted > 255) throw new ProtocolError('BAD_FIELD', 'evaluation.predictions out of range');
      }
      return {
        type,
        round: fields.integer('round', 1, MAX_COUNTER),
        count,
        lossSum: fields.finite('lossSum', 0, Number.MAX_VALUE),
        correct: fields.integer('correct', 0, count),
        predictions,
        computeMs: fields.finite('computeMs', 0, 1e9),
      };
    }
    case 'leave':
      return { type, reason: fields.string('reason', MAX_TEXT) };
    case 'welcome':
      return {
        type,
        protocol: fields.integer('protocol', 0, 65_535),
        workerId: fields.integer('workerId', 1, MAX_COUNTER),
        spec: checkSpec(fields.get('spec'), 'welcome.spec'),
        paramCount: fields.integer('paramCount', 1, 2 ** 31 - 1),
        datasetHash: fields.string('datasetHash', 128),
        sendingDataset: fields.boolean('sendingDataset'),
        heartbeatMs: fields.integer('heartbeatMs', HEARTBEAT_MS_LIMITS.min, HEARTBEAT_MS_LIMITS.max),
        ...optionalField('wire', fields.optional('wire', () => fields.oneOf('wire', WIRE_CODECS))),
        ...optionalField('optimizer', fields.optional('optimizer', () => checkOptimizerConfig(fields.get('optimizer'), 'welcome.optimizer'))),
        ...optionalField('overlap', fields.optional('overlap', () => fields.boolean('overlap'))),
      };
    case 'dataset': {
      const height = fields.integer('height', 1, 1024);
      const width = fields.integer('width', 1, 1024);
      const imageBytes = height * width;
      const trainLabels = fields.bytes('trainLabels', 1, Math.floor(limits.maxDatasetBytes / imageBytes));
      const testLabels = fields.bytes('testLabels', 1, Math.floor(limits.maxDatasetBytes / imageBytes));
      const trainPixels = fields.bytes('trainPixels', trainLabels.length * imageBytes, trainLabels.length * imageBytes);
      const testPixels = fields.bytes('testPixels', testLabels.length * imageBytes, testLabels.length * imageBytes);
      return { type, hash: fields.string('hash', 128), height, width, trainPixels, trainLabels, testPixels, testLabels };
    }
    case 'step': {
      const indices = fields.indices('indices', limits.maxSliceLength, limits.trainCount);
      const params = fields.optional('params', () => fields.floats('params', requireParamCount(limits, type)));
      const dropoutSeeds = fields.uint32s('dropoutSeeds', indices.length);
      return {
        type,
        step: fields.integer('step', 1, MAX_COUNTER),
        round: fields.integer('round', 1, MAX_COUNTER),
        epoch: fields.integer('epoch', 1, MAX_COUNTER),
        version: fields.integer('version', 0, MAX_COUNTER),
        ...(params === undefined ? {} : { params }),
        indices,
        dropoutSeeds,
        ...replicaState(fields, params !== undefined, limits),
        ...optionalField('density', fields.optional('density', () => fields.finite('density', Number.MIN_VALUE, 1))),
        ...lookahead(fields, params !== undefined, limits),
      };
    }
    case 'evaluate': {
      const split = fields.oneOf('split', ['train', 'test'] as const);
      const indices = fields.indices('indices', limits.maxSliceLength, split === 'train' ? limits.trainCount : limits.testCount);
      const params = fields.optional('params', () => fields.floats('params', requireParamCount(limits, type)));
      return {
        type,
        round: fields.integer('round', 1, MAX_COUNTER),
        split,
        version: fields.integer('version', 0, MAX_COUNTER),
        ...(params === undefined ? {} : { params }),
        indices,
        ...replicaState(fields, params !== undefined, limits),
      };
    }
    case 'update': {
      const paramCount = requireParamCount(limits, type);
      return {
        type,
        version: fields.integer('version', 1, MAX_COUNTER),
        learningRate: fields.finite('learningRate', 0, Number.MAX_VALUE),
        correction1: fields.finite('correction1', Number.MIN_VALUE, 1),
        correction2: fields.finite('correction2', Number.MIN_VALUE, 1),
        ...packedGradient(fields, 'update', paramCount, true),
      } as Message;
    }
    case 'stop':
      return { type, reason: fields.string('reason', MAX_TEXT) };
    case 'error':
      return {
        type,
        code: fields.string('code', 64),
        message: fields.string('message', MAX_TEXT),
        fatal: fields.boolean('fatal'),
      };
    case 'subscribe': {
      const token = fields.optional('token', () => fields.string('token', MAX_TEXT));
      return { type, protocol: fields.integer('protocol', 0, 65_535), ...(token === undefined ? {} : { token }) };
    }
    case 'metrics':
      return { type, record: checkMetricsRecord(fields.get('record'), 'metrics.record') };
    case 'snapshot': {
      const records = (key: string, kind: string) =>
        fields.array(key, 1_000_000).map((item, i) => {
          const record = checkMetricsRecord(item, `snapshot.${key}[${i}]`);
          if (record.kind !== kind) throw new ProtocolError('BAD_FIELD', `snapshot.${key}[${i}] is a ${record.kind} record`);
          return record;
        });
      const single = <T>(key: string, kind: string) =>
        fields.nullable(key, () => {
          const record = checkMetricsRecord(fields.get(key), `snapshot.${key}`);
          if (record.kind !== kind) throw new ProtocolError('BAD_FIELD', `snapshot.${key} is a ${record.kind} record`);
          return record as T;
        });
      return {
        type,
        run: single<RunRecord>('run', 'run'),
        steps: records('steps', 'step') as StepRecord[],
        epochs: records('epochs', 'epoch') as EpochRecord[],
        test: single<TestRecord>('test', 'test'),
        workers: fields.array('workers', 10_000).map((row, i) => checkWorkerRow(row, `snapshot.workers[${i}]`)),
        events: records('events', 'event') as EventRecord[],
        end: single<EndRecord>('end', 'end'),
        ...(fields.has('timings') ? { timings: records('timings', 'timing') as TimingRecord[] } : {}),
      };
    }
    default: {
      // A new member of the Message union without a case above fails to compile here.
      const unhandled: never = type;
      throw new ProtocolError('UNKNOWN_TYPE', `unknown message type "${String(unhandled)}"`);
    }
  }
}

/** An optional field spread into a parsed message only when present. */
function optionalField<K extends string, T>(key: K, value: T | undefined): { [P in K]?: T } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: T };
}

/**
 * `gradient` as float32s, or (when `packed` is present, or required) `packed` decoded, with
 * `gradient` sent empty: a sparse frame into `entries` (the coordinator's sum and a replica's
 * update then cost the entries sent, not paramCount floats), a dense one into a new `gradient`.
 * Malformed packed bytes are refused (wire/packed.ts).
 */
function packedGradient(fields: Fields, type: 'gradient' | 'update', paramCount: number, packedRequired = false): { gradient: Float32Array; packed?: Uint8Array; entries?: SparseEntries } {
  if (!packedRequired && !fields.has('packed')) return { gradient: fields.floats('gradient', paramCount) };
  const packed = fields.bytes('packed', 2, maxPackedBytes(paramCount));
  fields.floats('gradient', 0);
  const where = `${type}.packed`;
  const entries = decodeSparseEntries(packed, paramCount, where);
  if (entries !== null) return { gradient: new Float32Array(0), packed, entries };
  const gradient = new Float32Array(paramCount);
  decodePacked(packed, gradient, where);
  return { gradient, packed };
}

/** A step's lookahead, and the parameters before its version: those only beside `params`, in a lookahead step. */
function lookahead(fields: Fields, hasParams: boolean, limits: ProtocolLimits): { lookahead?: boolean; previousParams?: Float32Array } {
  const ahead = fields.optional('lookahead', () => fields.boolean('lookahead'));
  if (!fields.has('previousParams')) return optionalField('lookahead', ahead);
  if (!hasParams || ahead !== true) throw new ProtocolError('BAD_FIELD', 'message.previousParams is sent only with params, in a lookahead step');
  return { lookahead: true, previousParams: fields.floats('previousParams', requireParamCount(limits, 'previousParams')) };
}

/** A replica's optimizer state and update count: only beside `params`, and then both or neither. */
function replicaState(fields: Fields, hasParams: boolean, limits: ProtocolLimits): { state?: Float32Array[]; iterations?: number } {
  if (!fields.has('state') && !fields.has('iterations')) return {};
  if (!hasParams) throw new ProtocolError('BAD_FIELD', 'message.state is sent only with params');
  const paramCount = requireParamCount(limits, 'state');
  const items = fields.array('state', 4);
  const state = items.map((item, i) => Fields.of({ item }, `message.state[${i}]`).floats('item', paramCount));
  return { state, iterations: fields.integer('iterations', 0, MAX_COUNTER) };
}

/** An optimizer config: a small object of names to strings, numbers and booleans. */
function checkOptimizerConfig(value: unknown, where: string): Record<string, string | number | boolean> {
  const config = Fields.of(value, where);
  config.oneOf('name', ['sgd', 'adadelta', 'adam'] as const);
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  if (keys.length > 8) throw new ProtocolError('BAD_LENGTH', `${where} has more than 8 keys`);
  for (const key of keys) {
    const item = object[key];
    if (typeof item === 'number' && !Number.isFinite(item)) throw new ProtocolError('NOT_FINITE', `${where}.${key.slice(0, 32)} is not finite`);
    if (key.length > 32 || !['string', 'number', 'boolean'].includes(typeof item)) throw new ProtocolError('BAD_FIELD', `${where}.${key.slice(0, 32)} is not a string, number or boolean`);
  }
  return object as Record<string, string | number | boolean>;
}

function requireParamCount(limits: ProtocolLimits, type: string): number {
  if (limits.paramCount === undefined) {
    throw new ProtocolError('UNEXPECTED_MESSAGE', `"${type}" before the parameter count is known`);
  }
  return limits.paramCount;
}


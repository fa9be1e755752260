/**
 * The field-level half of the fuzzer: one well-formed example of every protocol message
 * (packages/core/src/protocol/messages.ts), a description of each of its fields, and the
 * mutations that apply to each kind of field. A "cell" is (message type, field, mutation);
 * the campaign walks the cells in a seeded order so every one is hit, and the values
 * inside a cell are drawn from the seeded generator.
 *
 * NOTE: templates carry only what the protocol defines today; a field being removed
 * (hello.previousId) is not listed, so no check depends on it.
 */
import { MAX_RUNTIME, PROTOCOL_VERSION, type MessageType } from '../../packages/core/src/index.js';

/** What parse.ts checks a field against: the mutations that apply follow from it. */
export type FieldKind =
  | { readonly kind: 'integer'; readonly min: number; readonly max: number }
  | { readonly kind: 'number'; readonly min: number; readonly max: number }
  | { readonly kind: 'string'; readonly max: number }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'floats' }
  | { readonly kind: 'bytes' }
  | { readonly kind: 'uint32s' }
  | { readonly kind: 'object' }
  | { readonly kind: 'array' };

export const MUTATIONS = ['wrong type', 'out of range', 'NaN', 'Infinity', 'wrong length', 'oversized', 'missing key'] as const;
/** Mutations of a whole message rather than one field. */
export const MESSAGE_MUTATIONS = ['extra key', 'well-formed', 'truncated msgpack', 'garbage bytes', 'text frame'] as const;
export type Mutation = (typeof MUTATIONS)[number] | (typeof MESSAGE_MUTATIONS)[number];

/** The sizes a template needs: parameters of the run, images per slice. */
export interface TemplateSizes {
  readonly paramCount: number;
  readonly sliceLength: number;
  /** Token a `hello`/`subscribe` carries in this session's role (never the right one before admission). */
  readonly token: string;
  readonly datasetId: string;
  /** The coordinator's frame limit, bytes: "oversized" values go past it half of the time. */
  readonly maxPayload: number;
}

const MAX_COUNTER = 2 ** 48;
const MAX_TEXT = 1024;
const integer = (min: number, max: number): FieldKind => ({ kind: 'integer', min, max });
const number = (min: number, max: number): FieldKind => ({ kind: 'number', min, max });
const string = (max: number): FieldKind => ({ kind: 'string', max });
const counter = integer(1, MAX_COUNTER);
const FLOATS: FieldKind = { kind: 'floats' };
const BYTES: FieldKind = { kind: 'bytes' };
const UINT32S: FieldKind = { kind: 'uint32s' };
const BOOLEAN: FieldKind = { kind: 'boolean' };
const OBJECT: FieldKind = { kind: 'object' };
const ARRAY: FieldKind = { kind: 'array' };

/** A field and its well-formed value. */
export interface TemplateField {
  readonly name: string;
  readonly kind: FieldKind;
  readonly value: (sizes: TemplateSizes) => unknown;
}
const field = (name: string, kind: FieldKind, value: (sizes: TemplateSizes) => unknown): TemplateField => ({ name, kind, value });

/**
 * NOTE: rounds and steps far above any real one: a fuzzing worker's well-formed answer must
 * never match a live assignment (and so never change the model).
 */
const FAR_ROUND = 1_000_003;
const spec = { input: [1, 28, 28], layers: [{ type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }] };
const stepRecord = { kind: 'step', step: 1, epoch: 1, loss: 2.3, accuracy: 0.1, images: 96, imagesSeen: 96, imagesPerSecond: 1000, learningRate: 0.01, stepMs: 5, workers: 1, time: 1 };

/** Every message type of the union, each field as parse.ts reads it. `satisfies` makes a new type a compile error here. */
export const TEMPLATES = {
  hello: [
    field('protocol', integer(0, 65_535), () => PROTOCOL_VERSION),
    field('token', string(MAX_TEXT), (s) => s.token),
    field('name', string(256), () => 'fuzz'),
    field('datasetHash', string(128), (s) => s.datasetId),
    field('kernels', string(64), () => 'ts'),
    field('runtime', string(MAX_RUNTIME), () => 'fuzz 1'),
    field('simd', BOOLEAN, () => true),
    field('relaxedSimd', BOOLEAN, () => false),
  ],
  gradient: [
    field('gradient', FLOATS, (s) => new Float32Array(s.paramCount)),
    field('step', counter, () => FAR_ROUND),
    field('round', counter, () => FAR_ROUND),
    field('count', integer(1, 65_536), (s) => s.sliceLength),
    field('lossSum', number(0, Number.MAX_VALUE), () => 1),
    field('correct', integer(0, 65_536), () => 0),
    field('computeMs', number(0, 1e9), () => 1),
    field('decodeMs', number(0, 1e9), () => 1),
  ],
  evaluation: [
    field('round', counter, () => FAR_ROUND),
    field('count', integer(1, 65_536), (s) => s.sliceLength),
    field('lossSum', number(0, Number.MAX_VALUE), () => 1),
    field('correct', integer(0, 65_536), () => 0),
    field('predictions', BYTES, (s) => new Uint8Array(s.sliceLength)),
    field('computeMs', number(0, 1e9), () => 1),
  ],
  leave: [field('reason', string(MAX_TEXT), () => 'fuzz')],
  welcome: [
    field('protocol', integer(0, 65_535), () => PROTOCOL_VERSION),
    field('workerId', counter, () => 1),
    field('spec', OBJECT, () => spec),
    field('paramCount', integer(1, 2 ** 31 - 1), (s) => s.paramCount),
    field('datasetHash', string(128), (s) => s.datasetId),
    field('sendingDataset', BOOLEAN, () => false),
    field('heartbeatMs', integer(100, 3_600_000), () => 1000),
  ],
  dataset: [
    field('hash', string(128), (s) => s.datasetId),
    field('height', integer(1, 1024), () => 2),
    field('width', integer(1, 1024), () => 2),
    field('trainPixels', BYTES, () => new Uint8Array(4)),
    field('trainLabels', BYTES, () => new Uint8Array(1)),
    field('testPixels', BYTES, () => new Uint8Array(4)),
    field('testLabels', BYTES, () => new Uint8Array(1)),
  ],
  step: [
    field('step', counter, () => FAR_ROUND),
    field('round', counter, () => FAR_ROUND),
    field('epoch', counter, () => 1),
    field('version', integer(0, MAX_COUNTER), () => 0),
    field('params', FLOATS, (s) => new Float32Array(s.paramCount)),
    field('indices', UINT32S, (s) => new Uint32Array(s.sliceLength)),
    field('dropoutSeeds', UINT32S, (s) => new Uint32Array(s.sliceLength)),
  ],
  evaluate: [
    field('round', counter, () => FAR_ROUND),
    field('split', { kind: 'enum', values: ['train', 'test'] }, () => 'test'),
    field('version', integer(0, MAX_COUNTER), () => 0),
    field('params', FLOATS, (s) => new Float32Array(s.paramCount)),
    field('indices', UINT32S, (s) => new Uint32Array(s.sliceLength)),
  ],
  update: [
    field('version', counter, () => 1),
    field('learningRate', number(0, Number.MAX_VALUE), () => 0.001),
    field('correction1', number(Number.MIN_VALUE, 1), () => 1),
    field('correction2', number(Number.MIN_VALUE, 1), () => 1),
    // Dense float32 format (core's wire/packed.ts): the header [3, 0, 0, 0], then zeros.
    field('packed', BYTES, (s) => {
      const bytes = new Uint8Array(4 + 4 * s.paramCount);
      bytes[0] = 3;
      return bytes;
    }),
    field('gradient', FLOATS, () => new Float32Array(0)),
  ],
  stop: [field('reason', string(MAX_TEXT), () => 'fuzz')],
  error: [
    field('code', string(64), () => 'FUZZ'),
    field('message', string(MAX_TEXT), () => 'fuzz'),
    field('fatal', BOOLEAN, () => false),
  ],
  subscribe: [field('protocol', integer(0, 65_535), () => PROTOCOL_VERSION), field('token', string(MAX_TEXT), (s) => s.token)],
  metrics: [field('record', OBJECT, () => stepRecord)],
  snapshot: [
    field('run', OBJECT, () => null),
    field('steps', ARRAY, () => [stepRecord]),
    field('epochs', ARRAY, () => []),
    field('test', OBJECT, () => null),
    field('workers', ARRAY, () => []),
    field('events', ARRAY, () => []),
    field('end', OBJECT, () => null),
  ],
} as const satisfies Record<MessageType, readonly TemplateField[]>;

export const MESSAGE_TYPES = Object.keys(TEMPLATES) as MessageType[];

/** Which field mutations can change a field of this kind (a boolean has no range, a string no NaN). */
export function mutationsFor(kind: FieldKind): readonly (typeof MUTATIONS)[number][] {
  switch (kind.kind) {
    case 'integer':
    case 'number':
      return ['wrong type', 'out of range', 'NaN', 'Infinity', 'missing key'];
    case 'string':
      return ['wrong type', 'wrong length', 'oversized', 'missing key'];
    case 'boolean':
      return ['wrong type', 'missing key'];
    case 'enum':
      return ['wrong type', 'out of range', 'missing key'];
    case 'floats':
      return ['wrong type', 'NaN', 'Infinity', 'wrong length', 'oversized', 'missing key'];
    case 'bytes':
    case 'uint32s':
      return ['wrong type', 'out of range', 'wrong length', 'oversized', 'missing key'];
    case 'object':
    case 'array':
      return ['wrong type', 'out of range', 'oversized', 'missing key'];
    default: {
      const never: never = kind;
      throw new Error(`unknown field kind ${JSON.stringify(never)}`);
    }
  }
}

/** One cell of the coverage table. `field` is '*' for a mutation of the whole message. */
export interface Cell {
  readonly type: MessageType;
  readonly field: string;
  readonly mutation: Mutation;
}

/** Every (type, field, mutation) the fuzzer covers, in a fixed order. */
export const CELLS: readonly Cell[] = MESSAGE_TYPES.flatMap((type) => [
  ...TEMPLATES[type].flatMap((f: TemplateField) => mutationsFor(f.kind).map((mutation) => ({ type, field: f.name, mutation }))),
  ...MESSAGE_MUTATIONS.map((mutation) => ({ type, field: '*', mutation })),
]);

/** The seeded draws a mutation needs. */
export interface Draw {
  int(below: number): number;
  pick<T>(items: readonly T[]): T;
  bytes(length: number): Uint8Array;
}

/** Values of every msgpack family, for putting the wrong type in a field. */
export const WRONG_VALUES: readonly unknown[] = [
  null, true, -1, 0.5, 2 ** 53, -(2 ** 63), Number.NaN, Number.POSITIVE_INFINITY, '', 'x'.repeat(5000),
  [], [1, 2, 3], {}, { nested: { deeper: [{}] } }, new Uint8Array(7), new Float32Array(3), new Uint32Array(2), new Float64Array(2),
  new Int16Array(2),
];

function family(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  return typeof value;
}

/** Keys a decoder might trip on: prototype names, a long key, a removed field. */
const EXTRA_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'x'.repeat(200), 'previousId', 'type2', ''];

/** A value a quarter past the frame limit half of the time (the connection is then closed 1009), under it otherwise. */
function oversizedLength(sizes: TemplateSizes, draw: Draw, bytesPerItem: number): number {
  const limit = Math.floor(sizes.maxPayload / bytesPerItem);
  return draw.int(2) === 0 ? Math.ceil(limit * 1.25) + draw.int(1024) : Math.floor(limit * 0.8);
}

function mutateField(kind: FieldKind, valid: unknown, mutation: (typeof MUTATIONS)[number], sizes: TemplateSizes, draw: Draw): unknown {
  switch (mutation) {
    case 'wrong type':
      return draw.pick(WRONG_VALUES.filter((value) => family(value) !== family(valid)));
    case 'NaN':
      if (kind.kind === 'floats') return withElement(valid as Float32Array, Number.NaN, draw);
      return Number.NaN;
    case 'Infinity': {
      const infinity = draw.int(2) === 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
      if (kind.kind === 'floats') return withElement(valid as Float32Array, infinity, draw);
      return infinity;
    }
    case 'out of range':
      switch (kind.kind) {
        case 'integer':
        case 'number':
          return draw.pick([kind.min - 1, kind.max + 1, kind.min - 0.5, 1.5, -(2 ** 63), 2 ** 64, Number.MAX_VALUE, -Number.MAX_VALUE, -0.000001]);
        case 'enum':
          return draw.pick(['bogus', kind.values.join(''), kind.values[0]!.toUpperCase()]);
        case 'bytes': {
          const out = new Uint8Array((valid as Uint8Array).length);
          out.fill(255);
          return out;
        }
        case 'uint32s': {
          const out = new Uint32Array((valid as Uint32Array).length);
          out[draw.int(out.length)] = draw.pick([60_000, 10_000, 2 ** 32 - 1]);
          return out;
        }
        case 'object':
          return draw.pick([{}, { kind: 'step' }, { input: [1, 28], layers: 'x' }, { kind: 'nope', step: -1 }]);
        case 'array':
          return draw.pick([[null], [{}], [stepRecord, 1], [{ ...stepRecord, loss: 'x' }]]);
        default:
          return valid;
      }
    case 'wrong length': {
      if (kind.kind === 'string') return 'x'.repeat(kind.max + 1 + draw.int(16));
      const length = (valid as ArrayLike<number>).length;
      const wrong = draw.pick([0, Math.max(0, length - 1), length + 1, 2 * length + 1]);
      return kind.kind === 'floats' ? new Float32Array(wrong) : kind.kind === 'bytes' ? new Uint8Array(wrong) : new Uint32Array(wrong);
    }
    case 'oversized':
      switch (kind.kind) {
        case 'string':
          return 'y'.repeat(oversizedLength(sizes, draw, 1));
        case 'floats':
          return new Float32Array(oversizedLength(sizes, draw, 4));
        case 'bytes':
          return new Uint8Array(oversizedLength(sizes, draw, 1));
        case 'uint32s':
          return new Uint32Array(oversizedLength(sizes, draw, 4));
        default:
          // NOTE: a plain array of small integers packs one byte per item.
          return new Array<number>(oversizedLength(sizes, draw, 1)).fill(0);
      }
    case 'missing key':
      return undefined;
    default: {
      const never: never = mutation;
      throw new Error(`unknown mutation ${String(never)}`);
    }
  }
}

function withElement(valid: Float32Array, value: number, draw: Draw): Float32Array {
  const out = Float32Array.from(valid);
  out[draw.int(out.length)] = value;
  return out;
}

/** The message of a cell: the template with its field mutated (or the whole message, for field '*'). */
export function cellMessage(cell: Cell, sizes: TemplateSizes, draw: Draw): Record<string, unknown> | string | Uint8Array {
  const message: Record<string, unknown> = { type: cell.type };
  const fields: readonly TemplateField[] = TEMPLATES[cell.type];
  for (const f of fields) {
    const valid = f.value(sizes);
    if (f.name !== cell.field) message[f.name] = valid;
    else if (cell.mutation !== 'missing key') message[f.name] = mutateField(f.kind, valid, cell.mutation as (typeof MUTATIONS)[number], sizes, draw);
  }
  switch (cell.mutation) {
    case 'extra key':
      Object.defineProperty(message, draw.pick(EXTRA_KEYS), { value: draw.pick(WRONG_VALUES), enumerable: true, configurable: true, writable: true });
      return message;
    case 'text frame':
      return JSON.stringify(message);
    case 'garbage bytes':
      return draw.bytes(1 + draw.int(2048));
    default:
      // 'truncated msgpack' is cut by the caller, which owns the codec.
      return message;
  }
}

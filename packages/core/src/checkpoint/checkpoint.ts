/**
 * Checkpoints: everything a run needs to continue exactly where it stopped, in the protobuf
 * format of checkpoint.proto (the source of truth, loaded at run time; docs/checkpoint.md).
 *
 * File layout: one encoded `convoy.Checkpoint` message; it starts with magic and
 * format_version (fields 1 and 2, written in field order), and ends with the 35-byte
 * content_sha256 field (tag C2 3E, length 20, digest) covering every byte before it, so a
 * truncated or corrupted file is detected even when it still decodes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { float32View } from '../bytes.js';
import { OPTIMIZER_NAMES } from '../optimizers/create.js';
import type { OptimizerName, ResolvedOptimizerConfig } from '../optimizers/optimizer.js';
import type { RngState } from '../rng.js';
import type { ModelSpec } from '../spec.js';

export const CHECKPOINT_MAGIC = 'convoy-checkpoint';
export const CHECKPOINT_FORMAT_VERSION = 1;

export class CheckpointError extends Error {
  readonly code = 'BAD_CHECKPOINT';
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export interface CheckpointOptimizer {
  readonly name: OptimizerName;
  /** The optimizer's resolved config (Optimizer.config), including the current learning rate. */
  readonly config: ResolvedOptimizerConfig;
  readonly iterations: number;
  /** Optimizer.state: named arrays, each as long as the parameters. */
  readonly state: Readonly<Record<string, Float32Array>>;
}

export interface Checkpoint {
  /** ISO 8601 UTC, e.g. new Date().toISOString(). */
  readonly createdAt: string;
  /** NOTE: decoded from JSON, not validated here: createModel validates it. */
  readonly modelSpec: ModelSpec;
  /** Its length is the param count. */
  readonly parameters: Float32Array;
  readonly optimizer: CheckpointOptimizer;
  /** The epoch in progress, 0-based. */
  readonly epoch: number;
  /** Global steps completed since the start of the run. */
  readonly step: number;
  /** Index of the next global batch in this epoch's permutation. */
  readonly batchInEpoch: number;
  readonly rngState: RngState;
  readonly seed: number;
  readonly globalBatchSize: number;
  /** Identity of the data, built from datasetHash() (the coordinator stores datasetId(train, test)). */
  readonly datasetHash: string;
  /** The run's settings, JSON-serialisable. */
  readonly settings: Readonly<Record<string, unknown>>;
  /**
   * Length in bytes of the run's history.jsonl at this checkpoint (whole lines): on resume the
   * file is cut back to it. The history lives in that file only, so a checkpoint's size does not
   * grow with the run.
   */
  readonly historyBytes: number;
  /**
   * Only in checkpoints written by older Convoys, which carried the whole history (JSON-serialisable
   * records); a resumed run then starts history.jsonl afresh from it. Empty when written now.
   */
  readonly history: readonly unknown[];
}

/** The message as protobufjs sees it (camelCase field names). */
interface CheckpointMessage {
  magic: string;
  formatVersion: number;
  createdAt: string;
  modelSpecJson: string;
  paramCount: number;
  parameters: Uint8Array;
  /** NOTE: null (not undefined) when absent. */
  optimizer?: { name: string; configJson: string; iterations: number | protobuf.Long; state: { name: string; data: Uint8Array }[] } | null;
  epoch: number;
  step: number | protobuf.Long;
  batchInEpoch: number;
  rngState: number[];
  seed: number;
  globalBatchSize: number;
  datasetHash: string;
  settingsJson: string;
  historyJsonl: string;
  historyBytes: number | protobuf.Long;
  contentSha256?: Uint8Array;
}

let checkpointType: protobuf.Type | undefined;

/** The Checkpoint message type, parsed from checkpoint.proto next to this module on first use. */
export function checkpointMessageType(): protobuf.Type {
  if (checkpointType === undefined) {
    const protoPath = fileURLToPath(new URL('./checkpoint.proto', import.meta.url));
    checkpointType = protobuf.parse(readFileSync(protoPath, 'utf8')).root.lookupType('convoy.Checkpoint');
  }
  return checkpointType;
}

// NOTE: float bytes are written and read in the host's order; every platform Node runs on
// is little-endian, which the format requires. Refuse loudly rather than write wrong bytes.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function requireLittleEndian(): void {
  if (!LITTLE_ENDIAN) throw new CheckpointError('checkpoints need a little-endian machine');
}

/** Field 1 ("convoy-checkpoint") encoded: every checkpoint starts with these bytes. */
const MAGIC_PREFIX = Uint8Array.from([0x0a, CHECKPOINT_MAGIC.length, ...Buffer.from(CHECKPOINT_MAGIC, 'ascii')]);
/** Field 1000 (content_sha256), wire type 2, length 32. */
const TRAILER_HEADER = Uint8Array.from([0xc2, 0x3e, 0x20]);
const TRAILER_LENGTH = TRAILER_HEADER.length + 32;

function floatBytes(array: Float32Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** protobufjs gives absent `bytes` fields as an empty plain array. */
function asBytes(bytes: Uint8Array | readonly number[] | undefined): Uint8Array {
  return bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes ?? []);
}

function checkUint32(what: string, value: number): void {
  if (!(Number.isInteger(value) && value >= 0 && value <= 0xffffffff)) {
    throw new CheckpointError(`checkpoint: ${what} must be an integer in [0, 2^32), got ${value}`);
  }
}

export function encodeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  requireLittleEndian();
  const { parameters, optimizer } = checkpoint;
  for (const [what, value] of [
    ['epoch', checkpoint.epoch],
    ['batchInEpoch', checkpoint.batchInEpoch],
    ['seed', checkpoint.seed],
    ['globalBatchSize', checkpoint.globalBatchSize],
    ...checkpoint.rngState.map((word, i) => [`rngState[${i}]`, word] as const),
  ] as const) {
    checkUint32(what, value);
  }
  for (const [what, value] of [['step', checkpoint.step], ['optimizer.iterations', optimizer.iterations], ['historyBytes', checkpoint.historyBytes]] as const) {
    if (!(Number.isSafeInteger(value) && value >= 0)) throw new CheckpointError(`checkpoint: ${what} must be a non-negative integer, got ${value}`);
  }
  if (checkpoint.rngState.length !== 4) throw new CheckpointError(`checkpoint: rngState must hold 4 words, got ${checkpoint.rngState.length}`);
  for (const [name, array] of Object.entries(optimizer.state)) {
    if (array.length !== parameters.length) {
      throw new CheckpointError(`checkpoint: optimizer state "${name}" holds ${array.length} values, the parameters ${parameters.length}`);
    }
  }
  const message: CheckpointMessage = {
    magic: CHECKPOINT_MAGIC,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    createdAt: checkpoint.createdAt,
    modelSpecJson: JSON.stringify(checkpoint.modelSpec),
    paramCount: parameters.length,
    parameters: floatBytes(parameters),
    optimizer: {
      name: optimizer.name,
      configJson: JSON.stringify(optimizer.config),
      iterations: optimizer.iterations,
      state: Object.entries(optimizer.state).map(([name, array]) => ({ name, data: floatBytes(array) })),
    },
    epoch: checkpoint.epoch,
    step: checkpoint.step,
    batchInEpoch: checkpoint.batchInEpoch,
    rngState: [...checkpoint.rngState],
    seed: checkpoint.seed,
    globalBatchSize: checkpoint.globalBatchSize,
    datasetHash: checkpoint.datasetHash,
    settingsJson: JSON.stringify(checkpoint.settings),
    historyJsonl: checkpoint.history.map((record) => JSON.stringify(record)).join('\n'),
    historyBytes: checkpoint.historyBytes,
  };
  const body = checkpointMessageType().encode(message).finish();
  const digest = createHash('sha256').update(body).digest();
  const bytes = new Uint8Array(body.length + TRAILER_LENGTH);
  bytes.set(body, 0);
  bytes.set(TRAILER_HEADER, body.length);
  bytes.set(digest, body.length + TRAILER_HEADER.length);
  return bytes;
}

function hexHead(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 8), (byte) => byte.toString(16).padStart(2, '0')).join(' ');
}

/** Checks magic, version and checksum before anything is decoded. `source` names the file in errors. */
function checkEnvelope(bytes: Uint8Array, source: string): void {
  const startsWithMagic = bytes.length >= MAGIC_PREFIX.length && MAGIC_PREFIX.every((byte, i) => bytes[i] === byte);
  if (!startsWithMagic) {
    throw new CheckpointError(
      bytes.length === 0 ? `${source}: empty file, not a Convoy checkpoint` : `${source}: not a Convoy checkpoint (it starts with ${hexHead(bytes)})`,
    );
  }
  // Field 2 (format_version, varint) follows the magic; read it before trusting anything else.
  let version: number;
  try {
    const reader = protobuf.Reader.create(bytes.subarray(MAGIC_PREFIX.length));
    if (reader.uint32() !== ((2 << 3) | 0)) throw new Error('no format_version after the magic');
    version = reader.uint32();
  } catch {
    throw new CheckpointError(`${source}: truncated or corrupt: no format version after the magic`);
  }
  if (version !== CHECKPOINT_FORMAT_VERSION) {
    const age = version > CHECKPOINT_FORMAT_VERSION ? 'newer' : 'older';
    throw new CheckpointError(
      `${source}: checkpoint format version ${version} (${age}), this Convoy reads version ${CHECKPOINT_FORMAT_VERSION}`,
    );
  }
  const bodyLength = bytes.length - TRAILER_LENGTH;
  const trailerOk = bodyLength > 0 && TRAILER_HEADER.every((byte, i) => bytes[bodyLength + i] === byte);
  const digest = createHash('sha256').update(bytes.subarray(0, Math.max(0, bodyLength))).digest();
  if (!trailerOk || !digest.equals(bytes.subarray(bodyLength + TRAILER_HEADER.length))) {
    throw new CheckpointError(`${source}: truncated or corrupt (${bytes.length} bytes, SHA-256 check failed)`);
  }
}

function toSafeInteger(value: number | protobuf.Long, what: string, source: string): number {
  const number = typeof value === 'number' ? value : Number(value.toString());
  if (!Number.isSafeInteger(number)) throw new CheckpointError(`${source}: ${what} ${value.toString()} is too large`);
  return number;
}

function parseJson(text: string, what: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`${source}: ${what} is not valid JSON (${(error as Error).message})`);
  }
}

/** Decodes and checks a checkpoint. `source` (e.g. the path) starts every error message. */
export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Checkpoint {
  requireLittleEndian();
  checkEnvelope(bytes, source);
  let message: CheckpointMessage;
  try {
    message = checkpointMessageType().decode(bytes) as unknown as CheckpointMessage;
  } catch (error) {
    throw new CheckpointError(`${source}: corrupt protobuf (${(error as Error).message})`);
  }
  const paramCount = message.paramCount;
  const parameters = asBytes(message.parameters);
  if (parameters.length !== 4 * paramCount) {
    throw new CheckpointError(
      `${source}: param_count ${paramCount} needs ${4 * paramCount} bytes of parameters, the file holds ${parameters.length}`,
    );
  }
  const optimizer = message.optimizer;
  if (optimizer == null) throw new CheckpointError(`${source}: no optimizer state`);
  if (!(OPTIMIZER_NAMES as readonly string[]).includes(optimizer.name)) {
    throw new CheckpointError(`${source}: unknown optimizer "${optimizer.name}" (expected one of: ${OPTIMIZER_NAMES.join(', ')})`);
  }
  const state: Record<string, Float32Array> = {};
  for (const array of optimizer.state) {
    const { name } = array;
    const data = asBytes(array.data);
    if (name in state) throw new CheckpointError(`${source}: optimizer state "${name}" appears twice`);
    if (data.length !== 4 * paramCount) {
      throw new CheckpointError(`${source}: optimizer state "${name}" holds ${data.length} bytes, param_count ${paramCount} needs ${4 * paramCount}`);
    }
    state[name] = float32View(data);
  }
  if (message.rngState.length !== 4) throw new CheckpointError(`${source}: rng_state holds ${message.rngState.length} words, expected 4`);
  const settings = parseJson(message.settingsJson || '{}', 'settings_json', source);
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    throw new CheckpointError(`${source}: settings_json is not a JSON object`);
  }
  const history = message.historyJsonl === '' ? [] : message.historyJsonl.split('\n').map((line, i) => parseJson(line, `history line ${i + 1}`, source));
  return {
    createdAt: message.createdAt,
    modelSpec: parseJson(message.modelSpecJson, 'model_spec_json', source) as ModelSpec,
    parameters: float32View(parameters),
    optimizer: {
      name: optimizer.name as OptimizerName,
      config: parseJson(optimizer.configJson, 'optimizer config_json', source) as ResolvedOptimizerConfig,
      iterations: toSafeInteger(optimizer.iterations, 'optimizer iterations', source),
      state,
    },
    epoch: message.epoch,
    step: toSafeInteger(message.step, 'step', source),
    batchInEpoch: message.batchInEpoch,
    rngState: message.rngState.slice(0, 4) as unknown as RngState,
    seed: message.seed,
    globalBatchSize: message.globalBatchSize,
    datasetHash: message.datasetHash,
    settings: settings as Record<string, unknown>,
    historyBytes: toSafeInteger(message.historyBytes, 'history_bytes', source),
    history,
  };
}

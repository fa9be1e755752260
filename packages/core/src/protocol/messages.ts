/**
 * Convoy's wire protocol: every message that crosses a WebSocket, as one discriminated
 * union on `type`. One message per binary frame, msgpack-encoded by codec.ts; typed
 * arrays travel as typed arrays. Nothing decoded is trusted before `parseMessage`
 * (parse.ts) has checked it. docs/protocol.md describes the conversations. The metrics
 * records that `metrics` and `snapshot` carry to dashboards are in records.ts.
 *
 * Connections and who sends what:
 *   worker    -> coordinator  hello, gradient, evaluation, leave, error
 *   coordinator -> worker     welcome, dataset, step, evaluate, stop, error
 *   dashboard -> coordinator  subscribe (its first and only message)
 *   coordinator -> dashboard  snapshot (once, right after subscribe), metrics, error
 *
 * Numbering: `step` counts optimizer updates from 1 (step s uses global batch s);
 * `epoch` counts from 1. Times are Unix milliseconds (Date.now()).
 * Image indices: `split: 'train'` indexes the full MNIST training file (60,000 images;
 * the validation set is its last images), `split: 'test'` the test file.
 */
import type { ModelSpec } from '../spec.js';
import type { WireCodec } from '../wire/codecs.js';
import type { SparseEntries } from '../wire/packed.js';
import type { EndRecord, EpochRecord, EventRecord, MetricsRecord, RunRecord, StepRecord, TestRecord, TimingRecord, WorkerRow } from './records.js';

// The records travel inside `metrics` and `snapshot`: re-exported so that this module still
// names every type on the wire (receivers and parse-metrics.ts import them from here).
export * from './records.js';

/** Bumped on any incompatible change; `hello`/`subscribe` carry it, a mismatch is refused. */
export const PROTOCOL_VERSION = 1;

export type Split = 'train' | 'test';

/** Images in the MNIST training file, which `split: 'train'` indexes (training and validation images are cut from it). */
export const MNIST_TRAIN_IMAGES = 60_000;

// ---------------------------------------------------------------- worker -> coordinator

/** A worker's first message. */
export interface HelloMessage {
  readonly type: 'hello';
  readonly protocol: number;
  /** Shared secret when the coordinator was started with --token. */
  readonly token?: string;
  /** A human-readable name, e.g. "host-1234" (not an identity: the coordinator assigns ids). */
  readonly name: string;
  /** datasetHash() of the worker's local MNIST, or null when it has none and needs it sent. */
  readonly datasetHash: string | null;
  /** The kernel backend in use on the worker (e.g. 'ts' or 'wasm'), shown on the dashboard. */
  readonly kernels: string;
  /** Compute threads the worker splits each slice over (absent from older workers: 1). */
  readonly threads?: number;
  /** Where the worker runs: "node 20.19.2", "chrome 131", "firefox 128" (optional: older workers send none). */
  readonly runtime?: string;
  /** Whether the worker's engine runs WebAssembly SIMD, and relaxed SIMD (fused multiply-add). */
  readonly simd?: boolean;
  readonly relaxedSimd?: boolean;
}

/** Most compute threads a worker may have (`--threads`; hello's `threads` is refused above it). */
export const MAX_WORKER_THREADS = 1024;

/** The answer to a `step`: sums over the worker's slice (never means). */
export interface GradientMessage {
  readonly type: 'gradient';
  readonly step: number;
  /** Echo of the `step` message's `round`: tells a late answer to a reassigned slice from a live one. */
  readonly round: number;
  /** Images in the slice (must equal the slice length). */
  readonly count: number;
  /** Sum of per-image cross-entropy losses. */
  readonly lossSum: number;
  /** Images whose argmax equals the label. */
  readonly correct: number;
  /** Sum of per-image gradients, paramCount floats, DESIGN.md layout. */
  readonly gradient: Float32Array;
  /** Milliseconds the worker spent in forward+backward, and decoding the step frame. */
  readonly computeMs: number;
  readonly decodeMs: number;
  /**
   * bf16/topk runs: the gradient sum compressed (wire/packed.ts). On the wire `gradient` is
   * then empty; parseMessage decodes a dense `packed` into it, and a sparse one into `entries`
   * (leaving `gradient` empty): receivers read `entries` when present, else `gradient`.
   */
  readonly packed?: Uint8Array;
  /** Set by parseMessage, never sent: the entries of a sparse `packed` (all others are 0). */
  readonly entries?: SparseEntries;
  /** Replica runs, when the job's version is a multiple of REPLICA_CHECK_EVERY: replicaHash() of the parameters used. */
  readonly replicaHash?: number;
  /** What the worker saw of its own step and process (optional: older workers send none). */
  readonly phases?: WorkerPhases;
}

/**
 * A worker's own timing and usage, carried by its gradient (worker clock, milliseconds).
 * NOTE: a frame cannot carry the time it took to encode and send itself, so the encode and
 * send reported are those of the worker's previous gradient (0 in its first).
 */
export interface WorkerPhases {
  readonly previousEncodeMs: number;
  /** From the previous gradient's frame handed to the socket until written out to the network. */
  readonly previousSendMs: number;
  /** Idle between the previous gradient's send and this step's frame arriving (waiting for the step). */
  readonly waitMs: number;
  /** The process's CPU time over the wall time since its previous gradient, in percent of one core (above 100 with threads). */
  readonly cpuPercent: number;
  /** Resident set size when this gradient was computed, bytes. */
  readonly rssBytes: number;
}

/** The answer to an `evaluate`: forward only, dropout off. */
export interface EvaluationMessage {
  readonly type: 'evaluation';
  readonly round: number;
  readonly count: number;
  readonly lossSum: number;
  readonly correct: number;
  /** Predicted class of every image of the slice, in slice order (confusion matrix, misclassified samples). */
  readonly predictions: Uint8Array;
  readonly computeMs: number;
}

/** A worker leaving on purpose (Ctrl-C): its current slice, if any, goes to the others. */
export interface LeaveMessage {
  readonly type: 'leave';
  readonly reason: string;
}

// ---------------------------------------------------------------- coordinator -> worker

/**
 * The accepted heartbeat (welcome.heartbeatMs, the coordinator's --heartbeat), in ms, both ends
 * included: one range, so a coordinator never announces what its workers refuse. Below 100 ms
 * a worker busy computing a slice misses the pings of a live coordinator.
 */
export const HEARTBEAT_MS_LIMITS = { min: 100, max: 3_600_000 } as const;

/** The coordinator's answer to an accepted `hello`. */
export interface WelcomeMessage {
  readonly type: 'welcome';
  readonly protocol: number;
  readonly workerId: number;
  readonly spec: ModelSpec;
  readonly paramCount: number;
  /** The coordinator's dataset hash; a `dataset` message follows when the worker said it has none. */
  readonly datasetHash: string;
  readonly sendingDataset: boolean;
  /** Milliseconds without any frame or pong after which each side considers the other dead. */
  readonly heartbeatMs: number;
  /** The run's wire codec (--wire); absent means fp32. */
  readonly wire?: WireCodec;
  /** Replica runs (bf16, topk): the optimizer config with defaults filled in, which every replica applies. */
  readonly optimizer?: Readonly<Record<string, string | number | boolean>>;
  /** Replica runs with --overlap: keep the parameters before each update, for `lookahead` steps. */
  readonly overlap?: boolean;
}

/** The MNIST images and labels, raw, for a worker without local data. Sent once. */
export interface DatasetMessage {
  readonly type: 'dataset';
  readonly hash: string;
  readonly height: number;
  readonly width: number;
  /** count*height*width grey levels 0..255, row-major, image after image. */
  readonly trainPixels: Uint8Array;
  readonly trainLabels: Uint8Array;
  readonly testPixels: Uint8Array;
  readonly testLabels: Uint8Array;
}

/** One worker's share of a training step. */
export interface StepMessage {
  readonly type: 'step';
  readonly step: number;
  /** Unique per assignment within the run: a slice reassigned after a death gets a new round. */
  readonly round: number;
  readonly epoch: number;
  /** Version of the parameters this slice must use (the number of updates applied so far). */
  readonly version: number;
  /** The parameters, present only when the worker's copy is older than `version`. */
  readonly params?: Float32Array;
  /** Indices into the training split, a contiguous piece of this step's global batch. */
  readonly indices: Uint32Array;
  /** One dropout seed per image (mixSeed(run seed, step, position in the global batch)). */
  readonly dropoutSeeds: Uint32Array;
  /** Replica runs, with `params`: the optimizer state (replicaStateNames order) and its update count. */
  readonly state?: readonly Float32Array[];
  readonly iterations?: number;
  /** topk runs: the fraction of gradient entries to send, in (0, 1]. */
  readonly density?: number;
  /**
   * Replica runs with --overlap, for a step computed one update behind: compute with the
   * parameters extrapolated one update ahead, 2 x params(version) - params(version - 1)
   * (core's wire/lookahead.ts).
   */
  readonly lookahead?: boolean;
  /** With `params` in a lookahead step: the parameters of version - 1 (a full state leaves a replica without them). */
  readonly previousParams?: Float32Array;
}

/** One worker's share of an evaluation round (validation or test), forward only. */
export interface EvaluateMessage {
  readonly type: 'evaluate';
  readonly round: number;
  readonly split: Split;
  readonly version: number;
  readonly params?: Float32Array;
  readonly indices: Uint32Array;
  /** Replica runs, with `params`: as in StepMessage. */
  readonly state?: readonly Float32Array[];
  readonly iterations?: number;
}

/**
 * Replica runs (bf16, topk): the update from `version - 1` to `version`, sent once encoded to
 * every worker whose replica holds version - 1. Every replica applies it with
 * applyReplicaUpdate (wire/replica.ts), bit for bit as the coordinator does.
 */
export interface UpdateMessage {
  readonly type: 'update';
  readonly version: number;
  /** The scalars computed by the coordinator (UpdateScalars). */
  readonly learningRate: number;
  readonly correction1: number;
  readonly correction2: number;
  /** The step's mean gradient as applied, packed (wire/packed.ts). */
  readonly packed: Uint8Array;
  /** Empty on the wire; parseMessage decodes a dense `packed` into it (paramCount floats), a sparse one into `entries`. */
  readonly gradient: Float32Array;
  /** Set by parseMessage, never sent: the entries of a sparse `packed` (all others are 0). */
  readonly entries?: SparseEntries;
}

/** The run is over (or the coordinator is shutting down): the worker exits 0. */
export interface StopMessage {
  readonly type: 'stop';
  readonly reason: string;
}

/** Either direction: why a frame or a connection was refused. The sender closes right after a fatal one. */
export interface ErrorMessage {
  readonly type: 'error';
  readonly code: string;
  readonly message: string;
  readonly fatal: boolean;
}

// ---------------------------------------------------------------- dashboard

/** A dashboard connection's first and only message: read-only from then on. */
export interface SubscribeMessage {
  readonly type: 'subscribe';
  readonly protocol: number;
  readonly token?: string;
}

/** One live update to dashboards. */
export interface MetricsMessage {
  readonly type: 'metrics';
  readonly record: MetricsRecord;
}

/** Everything so far, sent once to a dashboard that subscribes (possibly mid-run). */
export interface SnapshotMessage {
  readonly type: 'snapshot';
  readonly run: RunRecord | null;
  readonly steps: readonly StepRecord[];
  readonly epochs: readonly EpochRecord[];
  readonly test: TestRecord | null;
  readonly workers: readonly WorkerRow[];
  readonly events: readonly EventRecord[];
  readonly end: EndRecord | null;
  /** The newest steps' timing records (absent from older coordinators). */
  readonly timings?: readonly TimingRecord[];
}

// ---------------------------------------------------------------- the union

export type WorkerMessage = HelloMessage | GradientMessage | EvaluationMessage | LeaveMessage | ErrorMessage;
export type CoordinatorToWorkerMessage = WelcomeMessage | DatasetMessage | StepMessage | EvaluateMessage | UpdateMessage | StopMessage | ErrorMessage;
export type DashboardMessage = SubscribeMessage;
export type CoordinatorToDashboardMessage = SnapshotMessage | MetricsMessage | ErrorMessage;
/** A new connection's first message: a worker's hello or a dashboard's subscribe. */
export type FirstMessage = HelloMessage | SubscribeMessage;

export type Message = WorkerMessage | CoordinatorToWorkerMessage | DashboardMessage | CoordinatorToDashboardMessage;

export type MessageType = Message['type'];

// Each direction's types, written as the keys of an object that `satisfies` a record over
// the direction's union: the compiler names a type missing here or listed in the wrong
// direction, so a new message is added to its union and to one object below.
const WORKER_TYPES = { hello: true, gradient: true, evaluation: true, leave: true, error: true } as const satisfies Record<WorkerMessage['type'], true>;
const COORDINATOR_TO_WORKER_TYPES = {
  welcome: true,
  dataset: true,
  step: true,
  evaluate: true,
  update: true,
  stop: true,
  error: true,
} as const satisfies Record<CoordinatorToWorkerMessage['type'], true>;
const DASHBOARD_TYPES = { subscribe: true } as const satisfies Record<DashboardMessage['type'], true>;
const COORDINATOR_TO_DASHBOARD_TYPES = { snapshot: true, metrics: true, error: true } as const satisfies Record<CoordinatorToDashboardMessage['type'], true>;
const FIRST_TYPES = { hello: true, subscribe: true } as const satisfies Record<FirstMessage['type'], true>;

function typeSet<T extends MessageType>(types: Readonly<Record<T, true>>): ReadonlySet<T> {
  return new Set(Object.keys(types) as T[]);
}

/** Every message type, whatever its direction. */
export const MESSAGE_TYPES: ReadonlySet<MessageType> = typeSet<MessageType>({
  ...WORKER_TYPES,
  ...COORDINATOR_TO_WORKER_TYPES,
  ...DASHBOARD_TYPES,
  ...COORDINATOR_TO_DASHBOARD_TYPES,
});

/**
 * Which messages each side accepts (pass one as `ProtocolLimits.accept`; decodeMessage then
 * returns that direction's union, so receivers need no cast).
 */
export const FROM_WORKER = typeSet(WORKER_TYPES);
export const FROM_COORDINATOR_TO_WORKER = typeSet(COORDINATOR_TO_WORKER_TYPES);
export const FROM_COORDINATOR_TO_DASHBOARD = typeSet(COORDINATOR_TO_DASHBOARD_TYPES);
/** A new connection's first message: a worker's hello or a dashboard's subscribe. */
export const FIRST_MESSAGE = typeSet(FIRST_TYPES);

export function isMessageType(type: string): type is MessageType {
  return MESSAGE_TYPES.has(type as MessageType);
}

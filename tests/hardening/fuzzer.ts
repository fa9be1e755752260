/**
 * A protocol fuzzer for the coordinator's socket: opens connections and sends frames of
 * named kinds (random bytes, truncated and oversized msgpack, wrong types, wrong lengths,
 * huge counts, unknown types, out-of-order messages, hello floods, ...), a bounded number
 * of each, from a seeded generator. It counts what it tried and how the coordinator
 * answered; it never waits for anything but closes and errors.
 *
 * Two phases: `unauthenticated` (no token, or a wrong one: everything is refused before
 * the handshake) and `authenticated` (the right token: the connection is admitted as a
 * worker, then sends bad answers; the coordinator must tell it why, recompute its slices,
 * and disconnect it after too many).
 *
 * `campaign` is the field-level engine (fuzz-fields.ts) behind both the suite's fuzz test and
 * `pnpm fuzz`: every (message type, field, mutation) cell in turn, sent in a role (before the
 * handshake, after a wrong token, as an admitted worker, as a dashboard). Each session's
 * frames come from a generator seeded by (seed, session number), so one seed sends the same
 * frames whatever the timing of the parallel connections.
 */
import { connect } from 'node:net';
import { PROTOCOL_VERSION, decodeFrame, encodeMessage, mixSeed, type Message } from '../../packages/core/src/index.js';
import { WebSocket } from '../distributed/helpers.js';
import { CELLS, WRONG_VALUES, cellMessage, type Cell, type Draw, type TemplateSizes } from './fuzz-fields.js';

export interface FuzzTarget {
  readonly host: string;
  readonly port: number;
  /** The coordinator's token (authenticated phase). */
  readonly token: string;
  /** The coordinator's dataset id, so an authenticated fuzzer is not sent the dataset. */
  readonly datasetId: string;
  readonly paramCount: number;
  readonly seed: number;
  /** The coordinator's frame limit in bytes (4 * paramCount + 64 KiB + 2 * largest slice). */
  readonly maxPayload?: number;
}

/** Who the campaign's connection is when it sends its frames. */
export const ROLES = ['before handshake', 'bad token', 'worker', 'dashboard'] as const;
export type Role = (typeof ROLES)[number];
/** Roles that never pass the token check: the honest run must end bit for bit the same. */
export const UNAUTHENTICATED_ROLES: readonly Role[] = ['before handshake', 'bad token'];

export interface CampaignOptions {
  readonly frames: number;
  /** Connections open at once. */
  readonly connections: number;
  readonly roles: readonly Role[];
  /** Stops early (frames unsent) at this time (Date.now()) or when `running` turns false. */
  readonly deadline: number;
  readonly running?: () => boolean;
}

/** Frames per coverage cell: `type.field` -> mutation -> frames sent. */
export type Coverage = Map<string, Map<string, number>>;

/** A coordinator drops a worker after this many invalid frames (server.ts MAX_BAD_FRAMES): worker sessions go a little past it. */
const WORKER_FRAMES = 18;

/** Frames tried per kind, plus replies seen. */
export type FuzzCounts = Record<string, number>;

/** One frame to send: its kind (for the counts), the bytes or text, and its coverage cell if it has one. */
export type Frame = readonly [kind: string, frame: Uint8Array | string, cell?: Cell];

/** mulberry32: small, seeded, good enough to pick bytes. */
export function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pack = (value: unknown): Uint8Array => encodeMessage(value as Message);

/** Seeded draws for one session of the campaign. */
class Source implements Draw {
  private readonly random: () => number;
  constructor(seed: number) {
    this.random = generator(seed);
  }
  int(below: number): number {
    return Math.floor(this.random() * below);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }
}

export class Fuzzer {
  readonly counts: FuzzCounts = {};
  readonly coverage: Coverage = new Map();
  private readonly random: () => number;

  constructor(private readonly target: FuzzTarget) {
    this.random = generator(target.seed);
  }

  /** Frames the campaign sent (hellos and subscribes that open a role not included). */
  get campaignFrames(): number {
    let total = 0;
    for (const row of this.coverage.values()) for (const n of row.values()) total += n;
    return total;
  }

  private count(kind: string, n = 1): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + n;
  }

  private int(below: number): number {
    return Math.floor(this.random() * below);
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  private bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }

  private hello(token?: string): Record<string, unknown> {
    return { type: 'hello', protocol: PROTOCOL_VERSION, ...(token === undefined ? {} : { token }), name: 'fuzz', datasetHash: this.target.datasetId, kernels: 'ts' };
  }

  private gradient(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      type: 'gradient', step: 1, round: 1, count: 1, lossSum: 1, correct: 0,
      gradient: new Float32Array(this.target.paramCount), computeMs: 1, decodeMs: 1, ...overrides,
    };
  }

  /** Opens a WebSocket, sends `frames` (each tagged with its kind), then closes after `lingerMs`. */
  private session(frames: readonly Frame[], lingerMs = 50): Promise<void> {
    return new Promise((resolve) => {
      const socket = new WebSocket(`ws://${this.target.host}:${this.target.port}`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
      const finish = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => (socket.terminate(), finish()), 5_000);
      socket.on('error', () => undefined);
      socket.on('close', (code: number) => {
        this.count(`closed with ${code}`);
        finish();
      });
      socket.on('message', (data: Buffer) => {
        // What the coordinator answered: errors by code (the worker is told why), other messages by type.
        try {
          const reply = decodeFrame(data) as { type?: unknown; code?: unknown };
          this.count(reply.type === 'error' ? `answered error ${String(reply.code)}` : `answered ${String(reply.type)}`);
        } catch {
          this.count('answered undecodable');
        }
      });
      socket.on('open', () => {
        for (const [kind, frame, cell] of frames) {
          if (socket.readyState !== WebSocket.OPEN) break;
          socket.send(frame, { binary: typeof frame !== 'string' });
          this.count(kind);
          if (cell !== undefined) this.covered(cell);
        }
        setTimeout(() => socket.close(), lingerMs);
      });
    });
  }

  /** Frames a peer that has not said hello sends: all must be refused, none may change anything. */
  private unauthenticatedFrame(): [string, Uint8Array | string] {
    const { paramCount } = this.target;
    switch (this.int(11)) {
      case 0:
        return ['random bytes', this.bytes(1 + this.int(4096))];
      case 1: {
        const whole = pack(this.pick([this.hello('wrong'), this.gradient(), { type: 'subscribe', protocol: PROTOCOL_VERSION }]));
        return ['truncated msgpack', whole.subarray(0, this.int(whole.length))];
      }
      case 2: {
        const message = this.hello('wrong');
        const keys = Object.keys(message);
        message[this.pick(keys)] = this.pick(WRONG_VALUES);
        return ['wrong types', pack(message)];
      }
      case 3:
        return ['wrong lengths', pack(this.gradient({ gradient: new Float32Array(this.int(2 * paramCount)) }))];
      case 4: {
        // msgpack headers that claim 2^32-1 items or bytes in a frame of a few bytes.
        const headers = [[0xdd, 0xff, 0xff, 0xff, 0xff], [0xdf, 0xff, 0xff, 0xff, 0xff], [0xc6, 0xff, 0xff, 0xff, 0xff], [0xdb, 0x7f, 0xff, 0xff, 0xff], [0xc9, 0xff, 0xff, 0xff, 0xff, 0x06]];
        const counts = pack({ type: 'hello', protocol: 2 ** 53, token: 'x', name: 'n', datasetHash: null, kernels: 'ts', previousId: 1e300 });
        return ['huge counts', this.random() < 0.7 ? Uint8Array.from([...this.pick(headers), 0, 1, 2]) : counts];
      }
      case 5:
        return ['unknown types', pack({ type: this.pick(['launch', 'HELLO', '', 'x'.repeat(300), 42, null]), protocol: PROTOCOL_VERSION })];
      case 6: {
        const first = this.pick<Record<string, unknown>>([
          this.gradient(),
          { type: 'evaluation', round: 1, count: 1, lossSum: 0, correct: 0, predictions: new Uint8Array(1), computeMs: 0 },
          { type: 'leave', reason: 'x' },
          { type: 'step', step: 1, round: 1, epoch: 1, version: 0, indices: new Uint32Array(1), dropoutSeeds: new Uint32Array(1) },
          { type: 'welcome', protocol: 1, workerId: 1, spec: {}, paramCount: 1, datasetHash: 'x', sendingDataset: false, heartbeatMs: 1000 },
          { type: 'stop', reason: 'fuzz' },
        ]);
        return ['out of order', pack(first)];
      }
      case 7:
        return ['text frames', JSON.stringify(this.hello())];
      case 8:
        return ['oversized', this.bytes(4 * paramCount + 128 * 1024 + this.int(1024))];
      case 9:
        return ['bad token', pack(this.hello(this.pick(['', 'wrong', this.target.token + 'x', this.target.token.slice(1)])))];
      default:
        return ['not an object', pack(this.pick([[], 'hello', 42, null, new Float32Array(4), [this.hello()]]))];
    }
  }

  /** `connections` sessions of up to 8 bad frames each, `parallel` at a time. */
  async unauthenticated(connections: number, parallel = 8, deadline = Date.now() + 30_000): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < connections && Date.now() < deadline) {
        next++;
        const frames = Array.from({ length: 1 + this.int(8) }, () => this.unauthenticatedFrame());
        await this.session(frames, 20);
      }
    };
    await Promise.all(Array.from({ length: parallel }, lane));
  }

  /** `count` connections at once, each sending one hello without the right token (or a subscribe). */
  async helloFlood(count: number): Promise<void> {
    await Promise.all(
      Array.from({ length: count }, () => this.session([['hello flood', pack(this.random() < 0.5 ? this.hello() : this.hello('wrong'))]], 200)),
    );
  }

  /** `count` connections at once that say nothing for 1 s (the handshake deadline is longer): past the handshaking limit they are refused. */
  async silentFlood(count: number): Promise<void> {
    this.count('silent connections', count);
    await Promise.all(Array.from({ length: count }, () => this.session([], 1_000)));
  }

  /** Raw TCP garbage instead of an HTTP upgrade. */
  async rawTcp(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve) => {
        const socket = connect(this.target.port, this.target.host, () => {
          socket.end(this.bytes(1 + this.int(2048)));
          this.count('raw TCP garbage');
        });
        socket.on('data', (reply: Buffer) => reply.subarray(0, 12).toString() === 'HTTP/1.1 400' && this.count('raw TCP answered 400'));
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.setTimeout(10_000, () => socket.destroy());
      });
    }
  }

  /** Admitted workers (the right token) that answer with bad frames, then close. */
  async authenticated(connections: number, framesEach = 20): Promise<void> {
    const { paramCount } = this.target;
    const nan = new Float32Array(paramCount);
    nan[this.int(paramCount)] = Number.NaN;
    const inf = new Float32Array(paramCount);
    inf[this.int(paramCount)] = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < connections; c++) {
      const frames: [string, Uint8Array][] = [['hello (token)', pack(this.hello(this.target.token))]];
      for (let i = 0; i < framesEach; i++) {
        const kind = this.int(9);
        // NOTE: rounds far above any real one: a random answer must never match a live assignment by chance.
        const round = 1_000_000 + this.int(1000);
        const frame: [string, Record<string, unknown>] =
          kind === 0 ? ['NaN/Inf gradient', this.gradient({ round, gradient: this.random() < 0.5 ? nan : inf })]
          : kind === 1 ? ['wrong lengths', this.gradient({ round, gradient: new Float32Array(paramCount + (this.random() < 0.5 ? -1 : 1)) })]
          : kind === 2 ? ['huge counts', this.gradient({ round, count: this.pick([2 ** 40, 1e9, 65_537, -1]) })]
          : kind === 3 ? ['wrong types', this.gradient({ round, [this.pick(['step', 'round', 'count', 'lossSum', 'correct', 'gradient'])]: this.pick(WRONG_VALUES) })]
          : kind === 4 ? ['stale or foreign answers', this.gradient({ round, step: 1 + this.int(100) })]
          : kind === 5 ? ['unknown types', { type: this.pick(['grad', 'welcome', 'step', 'metrics', 'snapshot']), round }]
          : kind === 6 ? ['out of order', this.pick<Record<string, unknown>>([this.hello(this.target.token), { type: 'subscribe', protocol: PROTOCOL_VERSION, token: this.target.token }])]
          : kind === 7 ? ['wrong answer type', { type: 'evaluation', round, count: 2, lossSum: 0, correct: 3, predictions: new Uint8Array(2), computeMs: 0 }]
          : ['negative or overflowing sums', this.gradient({ round, lossSum: this.pick([-1, 1e309, Number.MAX_VALUE * 2]) })];
        frames.push([frame[0], pack(frame[1])]);
      }
      await this.session(frames, 100);
    }
  }

  /** A dashboard (subscribed with the token) that then sends training messages. */
  async dashboardSendingTraining(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const subscribe = pack({ type: 'subscribe', protocol: PROTOCOL_VERSION, token: this.target.token });
      await this.session([['subscribe (token)', subscribe], ['dashboard sending training messages', pack(this.gradient())]], 100);
    }
  }

  private covered(cell: Cell): void {
    const row = `${cell.type}.${cell.field}`;
    const counts = this.coverage.get(row) ?? new Map<string, number>();
    counts.set(cell.mutation, (counts.get(cell.mutation) ?? 0) + 1);
    this.coverage.set(row, counts);
  }

  /**
   * The field-level campaign: `frames` frames over sessions of a seeded role, `connections`
   * sessions at a time, as `plan` lays them out.
   */
  async campaign(options: CampaignOptions): Promise<void> {
    const running = options.running ?? (() => true);
    const sessions = this.plan(options.frames, options.roles);
    const lane = async () => {
      while (Date.now() < options.deadline && running()) {
        const next = sessions.next();
        if (next.done === true) return;
        await this.session(next.value.frames, next.value.role === 'worker' ? 60 : 20);
      }
    };
    await Promise.all(Array.from({ length: options.connections }, lane));
  }

  /**
   * The campaign's sessions in order, from the seed alone: session i draws from a generator
   * seeded by (seed, i), and frame g of the campaign mutates cell order[g % cells] (a seeded
   * order of every cell), so each cell is hit once per CELLS.length frames.
   */
  *plan(frames: number, roles: readonly Role[]): Generator<{ readonly role: Role; readonly frames: readonly Frame[] }> {
    const { paramCount, seed, token, datasetId } = this.target;
    const maxPayload = this.target.maxPayload ?? 4 * paramCount + 64 * 1024;
    const order = [...CELLS];
    const shuffle = new Source(mixSeed(seed, 0x0ce11));
    for (let i = order.length - 1; i > 0; i--) {
      const j = shuffle.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (let planned = 0, session = 0; planned < frames; session++) {
      const draw = new Source(mixSeed(seed, session));
      const role = draw.pick(roles);
      // NOTE: a connection is refused at its first frame unless admitted, and only that frame is answered:
      // short sessions there, so more of the frames' answers are seen.
      const count = Math.min(frames - planned, 1 + draw.int(role === 'worker' ? WORKER_FRAMES : role === 'dashboard' ? 8 : 3));
      const sizes: TemplateSizes = { paramCount, sliceLength: 1 + draw.int(96), token: role === 'worker' || role === 'dashboard' ? token : draw.pick(['', 'wrong', `${token}x`]), datasetId, maxPayload };
      const list: Frame[] = [];
      const opening = this.opening(role, sizes.token);
      if (opening !== null) list.push(opening);
      for (let k = 0; k < count; k++) list.push(this.cellFrame(order[(planned + k) % order.length]!, role, sizes, draw));
      planned += count;
      yield { role, frames: list };
    }
  }

  /** The frame that puts a session in its role (none before the handshake). */
  private opening(role: Role, token: string): Frame | null {
    switch (role) {
      case 'before handshake':
        return null;
      case 'bad token':
        return ['hello (bad token)', pack(this.hello(token))];
      case 'worker':
        return ['hello (token)', pack(this.hello(token))];
      case 'dashboard':
        return ['subscribe (token)', pack({ type: 'subscribe', protocol: PROTOCOL_VERSION, token })];
      default: {
        const never: never = role;
        throw new Error(`unknown role ${String(never)}`);
      }
    }
  }

  private cellFrame(cell: Cell, role: Role, sizes: TemplateSizes, draw: Draw): Frame {
    const message = cellMessage(cell, sizes, draw);
    const kind = `fuzzed (${role})`;
    if (typeof message === 'string' || message instanceof Uint8Array) return [kind, message, cell];
    const bytes = pack(message);
    return [kind, cell.mutation === 'truncated msgpack' ? bytes.subarray(0, draw.int(bytes.length)) : bytes, cell];
  }
}

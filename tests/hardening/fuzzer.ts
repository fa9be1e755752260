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
 */
import { connect } from 'node:net';
import { PROTOCOL_VERSION, decodeFrame, encodeMessage, type Message } from '../../packages/core/src/index.js';
import { WebSocket } from '../distributed/helpers.js';

export interface FuzzTarget {
  readonly host: string;
  readonly port: number;
  /** The coordinator's token (authenticated phase). */
  readonly token: string;
  /** The coordinator's dataset id, so an authenticated fuzzer is not sent the dataset. */
  readonly datasetId: string;
  readonly paramCount: number;
  readonly seed: number;
}

/** Frames tried per kind, plus replies seen. */
export type FuzzCounts = Record<string, number>;

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

/** Values of every msgpack family, for putting the wrong type in a field. */
const WRONG_VALUES: readonly unknown[] = [
  null, true, -1, 0.5, 2 ** 53, -(2 ** 63), Number.NaN, Number.POSITIVE_INFINITY, '', 'x'.repeat(5000),
  [], [1, 2, 3], {}, { nested: { deeper: [{}] } }, new Uint8Array(7), new Float32Array(3), new Uint32Array(2), new Float64Array(2),
];

export class Fuzzer {
  readonly counts: FuzzCounts = {};
  private readonly random: () => number;

  constructor(private readonly target: FuzzTarget) {
    this.random = generator(target.seed);
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
  private session(frames: readonly [string, Uint8Array | string][], lingerMs = 50): Promise<void> {
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
        for (const [kind, frame] of frames) {
          if (socket.readyState !== WebSocket.OPEN) break;
          socket.send(frame, { binary: typeof frame !== 'string' });
          this.count(kind);
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
}

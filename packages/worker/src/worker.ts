/**
 * A Convoy worker: connects to a coordinator, says hello (protocol version, token, dataset
 * id), then answers every `step` with gradient sums and every `evaluate` with forward-only
 * results, until told to stop. A lost connection is retried with exponential backoff, so
 * a restarted coordinator (`--resume`) gets its workers back.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  DEFAULT_LIMITS,
  FROM_COORDINATOR_TO_WORKER,
  PROTOCOL_VERSION,
  ProtocolError,
  createDataset,
  datasetId,
  decodeMessage,
  encodeMessage,
  FrameWriter,
  printable,
  selectKernels,
  type DatasetMessage,
  type Kernels,
  type KernelsChoice,
  type Message,
  type ProtocolLimits,
  type WelcomeMessage,
} from '@convoy/core';
import { datasetHash, loadMnist } from '@convoy/core/node';
import { WebSocket } from 'ws';
import { ComputeEngine, type WorkerData } from './compute.js';
import { Chaos, frameHeader, parseChaos, type ChaosIo } from './chaos.js';
import { WorkerError, describeSocketError } from './errors.js';

export interface WorkerOptions {
  /** ws://host:port of the coordinator. */
  readonly url: string;
  readonly token?: string;
  readonly name: string;
  /** Folder of the four MNIST IDX files; undefined = the bundled MNIST. */
  readonly dataDir?: string;
  /** false = ask the coordinator for the dataset instead of loading one. */
  readonly localData: boolean;
  readonly kernels: KernelsChoice;
  /** Give up (re)connecting after this long without a coordinator. */
  readonly retryForMs: number;
  /** A progress line (steps, images/s) at most this often while working; 0 = none (local workers). */
  readonly progressEveryMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** Largest frame accepted from the coordinator (the dataset message is ~55 MB). */
  readonly maxPayload: number;
  /** Test and demo fault injection: block this long before answering each step (a slow machine). */
  readonly stepDelayMs: number;
  /** Test and demo fault injection, e.g. "kill@step20,pause@step40:5s" (chaos.ts). */
  readonly chaos: string;
  /** PEM file of a certificate (or CA) to trust for wss://, e.g. the coordinator's self-signed --tls-cert. */
  readonly tlsCa?: string;
  /** Log lines go here (stderr by default). */
  readonly log: (line: string) => void;
}

export const WORKER_DEFAULTS: WorkerOptions = {
  url: 'ws://127.0.0.1:8080',
  name: `${hostname()}-${process.pid}`,
  localData: true,
  kernels: 'auto',
  // Long enough for a coordinator restarted with --resume to come back, short enough that
  // a typo in --connect ends with a message rather than minutes of silence.
  retryForMs: 60_000,
  progressEveryMs: 10_000,
  backoffInitialMs: 200,
  backoffMaxMs: 5_000,
  maxPayload: 256 * 1024 * 1024,
  stepDelayMs: 0,
  chaos: '',
  log: (line) => process.stderr.write(`${line}\n`),
};

export const WorkerState = {
  CONNECTING: 'connecting',
  HANDSHAKING: 'handshaking',
  READY: 'ready',
  STOPPING: 'stopping',
  STOPPED: 'stopped',
} as const;
export type WorkerStateName = (typeof WorkerState)[keyof typeof WorkerState];

/** How a worker's run ended: 0 stopped by the coordinator or left on purpose, 1 refused or unreachable. */
export interface WorkerExit {
  readonly code: number;
  readonly reason: string;
}

export class Worker {
  readonly options: WorkerOptions;
  state: WorkerStateName = WorkerState.CONNECTING;
  private socket: WebSocket | null = null;
  private data: WorkerData | null = null;
  private localId: string | null = null;
  private engine: ComputeEngine | null = null;
  private workerId: number | undefined;
  private limits: ProtocolLimits = { ...DEFAULT_LIMITS, accept: FROM_COORDINATOR_TO_WORKER };
  private resolveExit!: (exit: WorkerExit) => void;
  readonly exited: Promise<WorkerExit>;
  /** When the coordinator was last lost (or first tried): retries stop retryForMs after it. */
  private disconnectedSince: number | null = null;
  private attempt = 0;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private lastHeard = Date.now();
  /** A welcome that arrived before the dataset it announced. */
  private pendingWelcome: WelcomeMessage | null = null;
  private readonly chaos: Chaos;
  private readonly trustedCa: Buffer | null;
  /** Where gradients are encoded: one 4.8 MB buffer reused step after step (codec.ts). */
  private readonly frames = new FrameWriter();
  /** Whether a connection was ever open: "never connected" and "connection lost" say different things. */
  private everConnected = false;
  /** Why the last connection attempt failed ("connection refused", "unknown host ..."). */
  private lastError = '';
  /** The backend selected at start, for the first model; its name goes in hello (what runs, not what was asked). */
  private kernels: Kernels | null = null;
  private kernelsName = '';
  private progress = { since: Date.now(), steps: 0, images: 0, epoch: 0 };

  constructor(options: Partial<WorkerOptions> & Pick<WorkerOptions, 'url'>) {
    this.options = { ...WORKER_DEFAULTS, ...options };
    if (!/^wss?:\/\//.test(this.options.url)) throw new WorkerError('BAD_OPTION', `--connect must be a ws:// or wss:// URL, got "${this.options.url}"`);
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
    this.chaos = new Chaos(parseChaos(this.options.chaos));
    this.trustedCa = this.options.tlsCa === undefined ? null : readTrustedCa(this.options.tlsCa);
  }

  /** Loads the local dataset (when it has one) and connects. Resolves `exited` when done. */
  start(): Promise<WorkerExit> {
    if (this.options.localData) {
      const { train, test } = loadMnist(this.options.dataDir);
      this.data = { train, test };
      this.localId = datasetId(datasetHash(train), datasetHash(test));
    }
    this.kernels = selectKernels(this.options.kernels);
    this.kernelsName = this.kernels.name;
    this.connect();
    return this.exited;
  }

  /** Ctrl-C: tell the coordinator, close, exit 0 (training goes on without us). */
  leave(reason: string): void {
    // NOTE: STOPPING too: under pnpm one Ctrl-C arrives twice (the terminal's and pnpm's forward).
    if (this.state === WorkerState.STOPPING || this.state === WorkerState.STOPPED) return;
    this.send({ type: 'leave', reason });
    this.finish({ code: 0, reason: `left: ${reason}` });
  }

  private connect(): void {
    this.state = WorkerState.CONNECTING;
    this.frames.clear(); // a frame the lost connection was still writing may never report written
    const socket = new WebSocket(this.options.url, {
      maxPayload: this.options.maxPayload,
      perMessageDeflate: false,
      generateMask: zeroMask,
      ...(this.trustedCa === null ? {} : { ca: this.trustedCa }),
    });
    this.socket = socket;
    socket.binaryType = 'nodebuffer';
    socket.on('open', () => {
      this.state = WorkerState.HANDSHAKING;
      this.everConnected = true;
      this.lastError = '';
      this.attempt = 0;
      this.disconnectedSince = null;
      this.send({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        ...(this.options.token === undefined ? {} : { token: this.options.token }),
        name: this.options.name,
        datasetHash: this.localId,
        kernels: this.kernelsName,
      });
    });
    socket.on('message', (bytes: Buffer, isBinary) => this.onFrame(bytes, isBinary));
    socket.on('ping', () => (this.lastHeard = Date.now()));
    socket.on('error', (error) => {
      this.lastError = describeSocketError(error);
      if (this.state !== WorkerState.CONNECTING) this.options.log(`${this.label()}: connection error: ${this.lastError}`);
    });
    socket.on('close', () => {
      this.stopHeartbeat();
      if (this.socket === socket) this.socket = null;
      if (this.state === WorkerState.STOPPING || this.state === WorkerState.STOPPED) return;
      this.reconnectLater();
    });
  }

  private reconnectLater(): void {
    this.disconnectedSince ??= Date.now();
    const { url, retryForMs } = this.options;
    const seconds = Math.round(retryForMs / 1000);
    const why = this.lastError === '' ? '' : ` (${this.lastError})`;
    if (!this.everConnected && this.lastError.startsWith('unknown host')) {
      // A name that does not resolve will not start resolving by waiting: most likely a typo.
      this.finish({ code: 1, reason: `coordinator at ${url} unreachable: never connected${why}` });
      return;
    }
    if (Date.now() - this.disconnectedSince > retryForMs) {
      this.finish({
        code: 1,
        reason: this.everConnected
          ? `coordinator at ${url} unreachable for ${seconds} s after the connection was lost${why}; giving up`
          : `coordinator at ${url} unreachable: never connected in ${seconds} s${why}; is it running, and is the address right?`,
      });
      return;
    }
    const base = Math.min(this.options.backoffMaxMs, this.options.backoffInitialMs * 2 ** this.attempt);
    this.attempt++;
    const delay = base * (0.8 + 0.4 * Math.random());
    if (this.attempt === 1) {
      this.options.log(
        this.everConnected
          ? `${this.label()}: connection to ${url} lost${why}; retrying for ${seconds} s`
          : `worker: cannot reach the coordinator at ${url}${why}; retrying for ${seconds} s (--retry-for)`,
      );
    }
    this.state = WorkerState.CONNECTING;
    setTimeout(() => this.state === WorkerState.CONNECTING && this.connect(), delay);
  }

  private onFrame(bytes: Buffer, isBinary: boolean): void {
    this.lastHeard = Date.now();
    const started = performance.now();
    let message: Message;
    try {
      if (!isBinary) throw new ProtocolError('BAD_FRAME', 'text frame');
      message = decodeMessage(bytes, this.limits);
    } catch (error) {
      const code = error instanceof ProtocolError ? error.code : 'BAD_FRAME';
      this.options.log(`${this.label()}: bad frame from the coordinator (${code}): ${(error as Error).message}`);
      this.send({ type: 'error', code, message: (error as Error).message, fatal: false });
      return;
    }
    const decodeMs = performance.now() - started;
    try {
      this.handle(message, decodeMs);
    } catch (error) {
      // A coded error (ours, or core's: a model spec it cannot build, a dataset it cannot read) ends
      // this worker with a message to both sides; anything else is a bug and keeps its stack.
      const code = (error as { code?: unknown }).code;
      if (!(error instanceof Error) || typeof code !== 'string') throw error;
      this.send({ type: 'error', code, message: error.message, fatal: true });
      this.finish({ code: 1, reason: error.message });
    }
  }

  private handle(message: Message, decodeMs: number): void {
    switch (message.type) {
      case 'welcome':
        return this.onWelcome(message);
      case 'dataset':
        return this.onDataset(message);
      case 'step': {
        const answer = this.requireEngine().step(message, decodeMs);
        this.countProgress(message.epoch, message.indices.length);
        // NOTE: blocks like a slow computation would (no pong either), on purpose.
        if (this.options.stepDelayMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, this.options.stepDelayMs);
        if (this.chaos.active && this.chaos.answer(answer, encodeMessage, this.chaosIo())) return;
        this.send(answer);
        return;
      }
      case 'evaluate':
        this.send(this.requireEngine().evaluate(message));
        return;
      case 'stop':
        // The coordinator's texts reach this terminal: escaped (core's printable), like the coordinator prints workers'.
        this.options.log(`${this.label()}: stopped by the coordinator: ${printable(message.reason)}`);
        return this.finish({ code: 0, reason: printable(message.reason) });
      case 'error': {
        const [code, text] = [printable(message.code), printable(message.message)];
        this.options.log(`${this.label()}: the coordinator reports ${code}: ${text}`);
        if (message.fatal) this.finish({ code: 1, reason: `refused by the coordinator (${code}): ${text}` });
        return;
      }
      default:
        throw new WorkerError('REFUSED', `unexpected ${message.type} message`);
    }
  }

  private onWelcome(message: WelcomeMessage): void {
    if (message.protocol !== PROTOCOL_VERSION) {
      throw new WorkerError('REFUSED', `coordinator speaks protocol ${message.protocol}, this worker ${PROTOCOL_VERSION}`);
    }
    if (this.localId !== null && message.datasetHash !== this.localId) {
      throw new WorkerError('DATASET_MISMATCH', `dataset mismatch: local ${this.localId}, coordinator ${message.datasetHash}`);
    }
    this.workerId = message.workerId;
    this.limits = { ...this.limits, paramCount: message.paramCount };
    const sameModel = this.engine !== null && JSON.stringify(this.engine.spec) === JSON.stringify(message.spec);
    if (!sameModel && this.data !== null) this.engine = new ComputeEngine(message.spec, message.paramCount, this.data, this.takeKernels());
    if (!sameModel && this.data === null) this.pendingWelcome = message;
    this.startHeartbeat(message.heartbeatMs);
    this.progress = { since: Date.now(), steps: 0, images: 0, epoch: 0 };
    if (!message.sendingDataset) this.state = WorkerState.READY;
    this.options.log(`worker ${message.workerId}: joined ${this.options.url}${message.sendingDataset ? ' (receiving the dataset)' : ''}`);
  }

  private onDataset(message: DatasetMessage): void {
    const common = { channels: 1, height: message.height, width: message.width, classes: 10 };
    const train = createDataset({ name: 'received-train', pixels: message.trainPixels, labels: message.trainLabels, ...common });
    const test = createDataset({ name: 'received-test', pixels: message.testPixels, labels: message.testLabels, ...common });
    const id = datasetId(datasetHash(train), datasetHash(test));
    if (id !== message.hash) throw new WorkerError('DATASET_MISMATCH', `received dataset hashes to ${id}, the coordinator announced ${message.hash}`);
    this.data = { train, test };
    this.localId = id;
    const welcome = this.pendingWelcome;
    if (welcome !== null) this.engine = new ComputeEngine(welcome.spec, welcome.paramCount, this.data, this.takeKernels());
    this.pendingWelcome = null;
    this.state = WorkerState.READY;
  }

  /** Who this worker is in log lines: the coordinator's number once it has one. */
  private label(): string {
    return this.workerId === undefined ? 'worker' : `worker ${this.workerId}`;
  }

  /** The kernels for a new compute engine: the ones selected at start first, then fresh ones (a backend's arrays are its own). */
  private takeKernels(): Kernels {
    const kernels = this.kernels ?? selectKernels(this.options.kernels);
    this.kernels = null;
    return kernels;
  }

  /** A line every progressEveryMs while slices arrive: a remote worker's terminal is not silent. */
  private countProgress(epoch: number, images: number): void {
    const progress = this.progress;
    progress.steps++;
    progress.images += images;
    progress.epoch = epoch;
    const elapsed = Date.now() - progress.since;
    if (this.options.progressEveryMs <= 0 || elapsed < this.options.progressEveryMs) return;
    this.options.log(
      `${this.label()}: epoch ${epoch}, ${progress.steps} slices (${progress.images} images) in ${Math.round(elapsed / 1000)} s, ` +
        `${Math.round((1000 * progress.images) / elapsed)} images/s`,
    );
    this.progress = { since: Date.now(), steps: 0, images: 0, epoch };
  }

  private requireEngine(): ComputeEngine {
    if (this.engine === null || this.state !== WorkerState.READY) throw new WorkerError('REFUSED', 'work sent before the handshake finished');
    return this.engine;
  }

  /**
   * The coordinator pings every heartbeatMs/2; silence for heartbeatMs means it is gone
   * (a half-open TCP connection never reports a close), so drop it and reconnect.
   */
  private startHeartbeat(heartbeatMs: number): void {
    this.stopHeartbeat();
    this.lastHeard = Date.now();
    let lastTick = Date.now();
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      // NOTE: after a long synchronous computation this timer runs before the socket's queued
      // pings are read; a late tick means our own loop was busy, not that the peer is silent.
      if (now - lastTick > 1_000) this.lastHeard = Math.max(this.lastHeard, now - 1_000);
      lastTick = now;
      if (now - this.lastHeard > heartbeatMs) {
        this.options.log(`${this.label()}: no heartbeat from the coordinator for ${now - this.lastHeard} ms; reconnecting`);
        this.socket?.terminate();
      }
    }, Math.min(500, heartbeatMs / 4));
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private chaosIo(): ChaosIo {
    return {
      send: (message) => this.send(message),
      cut: (frameLength, bytes) => {
        // NOTE: ws has no API for half a frame: write to its TCP socket directly, then drop it.
        const tcp = (this.socket as unknown as { _socket?: import('node:net').Socket } | null)?._socket;
        tcp?.write(frameHeader(frameLength));
        tcp?.write(bytes, () => tcp.destroy());
      },
      leave: (reason) => this.leave(reason),
      log: this.options.log,
    };
  }

  private send(message: Message): void {
    const socket = this.socket;
    if (socket === null || socket.readyState !== WebSocket.OPEN) return;
    const frame = this.frames.encode(message);
    socket.send(frame, { binary: true }, () => this.frames.release(frame));
  }

  private finish(exit: WorkerExit): void {
    if (this.state === WorkerState.STOPPED) return;
    this.state = WorkerState.STOPPING;
    this.stopHeartbeat();
    const socket = this.socket;
    const done = () => {
      this.state = WorkerState.STOPPED;
      this.resolveExit(exit);
    };
    if (socket === null || socket.readyState === WebSocket.CLOSED) return done();
    socket.once('close', done);
    socket.close(1000, exit.reason.slice(0, 100));
    // A peer that never answers the close handshake must not keep us.
    setTimeout(() => socket.terminate(), 2_000).unref();
  }
}

/**
 * Every frame a worker sends carries the masking key 0, which ws reads as "send the payload
 * as it is": no 4.8 MB masked copy of each gradient, no XOR on either side. Masking (RFC
 * 6455, 10.3) keeps a hostile script in a browser from choosing the bytes a proxy sees; a
 * worker is not a browser and sends the numbers it computed.
 */
export function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

function readTrustedCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new WorkerError('BAD_OPTION', `--tls-ca ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

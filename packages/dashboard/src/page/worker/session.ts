/**
 * A browser tab's conversation with its coordinator, run inside the page's Web Worker: the
 * browser counterpart of packages/worker/src/worker.ts, speaking the same protocol with the
 * same ComputeEngine (packages/worker/src/compute.ts) over the same wasm kernels. Every
 * frame from the coordinator is decoded and answered here and nowhere else; the run's wire
 * codec (fp32, or replicas with compressed gradients) is core's WorkerWire, as in the Node worker.
 *
 * Says hello (token, the id of a dataset kept in Cache Storage, runtime and SIMD), takes the
 * welcome (refusing a wire codec it does not speak), the dataset when it has none, then
 * answers `step` and `evaluate` until told to stop or asked to leave. A lost connection is
 * retried with backoff; a refusal is final until the person joins again.
 */
import {
  DEFAULT_LIMITS,
  FROM_COORDINATOR_TO_WORKER,
  FrameWriter,
  PROTOCOL_VERSION,
  ProtocolError,
  createWasmKernels,
  decodeMessage,
  printable,
  type DatasetMessage,
  type Message,
  type ProtocolLimits,
  type WelcomeMessage,
  WIRE_CODECS,
  WorkerWire,
} from '@convoy/core';
import { ComputeEngine, type WorkerData } from '@convoy/worker/compute';
import { checkedData, type DatasetStore } from './dataset-store.js';
import type { SessionState, SessionStatus } from './status.js';

/** Wire codecs this page speaks (welcome.wire; absent means the float32 reference). */
export const SUPPORTED_WIRES: ReadonlySet<string> = new Set(WIRE_CODECS);

/** Frames of at least this many bytes are sent as a Blob (see send). */
const BLOB_FRAME_BYTES = 64 * 1024;

/** Reconnection: first delay, longest delay, and how long to keep trying after a loss (ms). */
const RETRY = { firstMs: 500, maxMs: 8_000, forMs: 120_000 } as const;

export interface SessionOptions {
  readonly url: string;
  readonly token: string | undefined;
  readonly name: string;
  readonly runtime: string;
  readonly variant: 'relaxed' | 'simd';
  /** Where the dataset is read from at start (null: no Cache Storage here). */
  readonly store: DatasetStore | null;
  /** The dataset a previous session of this tab held (a rejoin): used as is, neither read nor downloaded again. */
  readonly held: HeldDataset | null;
  /** Keeps a received dataset frame for the next join (the page's thread writes it). */
  readonly keep: (id: string, frame: Uint8Array) => void;
  readonly report: (status: SessionStatus) => void;
}

/** A session's checked dataset, handed to the next session of the same tab. */
export interface HeldDataset {
  readonly id: string;
  readonly data: WorkerData;
  readonly fromCache: boolean;
}

/** A refusal from this side: it ends the session like the coordinator's own would. */
class Refusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Session {
  private socket: WebSocket | null = null;
  private readonly frames = new FrameWriter();
  private limits: ProtocolLimits = { ...DEFAULT_LIMITS, accept: FROM_COORDINATOR_TO_WORKER };
  private data: WorkerData | null = null;
  private dataId: string | null = null;
  private engine: ComputeEngine | null = null;
  /** The run's wire codec: replicas and compressed gradients in bf16/topk runs (core's wire/worker-wire.ts). */
  private readonly wire = new WorkerWire();
  private pendingWelcome: WelcomeMessage | null = null;
  /** Frames are handled one after another; checking a received dataset is asynchronous. */
  private queue: Promise<void> = Promise.resolve();
  private lostSince: number | null = null;
  private attempt = 0;
  private status: { -readonly [K in keyof SessionStatus]: SessionStatus[K] };
  private lastReport = 0;
  private trailingReport: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly options: SessionOptions) {
    this.status = {
      state: 'connecting', detail: '', workerId: null, variant: options.variant, runtime: options.runtime,
      slices: 0, images: 0, computeMs: 0, bytesIn: 0, bytesOut: 0, datasetFromCache: false,
    };
  }

  async start(): Promise<void> {
    const held = this.options.held;
    if (held !== null) {
      this.data = held.data;
      this.dataId = held.id;
      this.status.datasetFromCache = held.fromCache;
      return this.connect();
    }
    const store = this.options.store;
    const id = store === null ? null : await store.storedId();
    if (id !== null) {
      this.data = await store!.load(id);
      this.dataId = this.data === null ? null : id;
      this.status.datasetFromCache = this.data !== null;
    }
    this.connect();
  }

  /** The Stop button: tell the coordinator (its slice goes to the others at once), then close. */
  leave(reason: string): void {
    if (this.ended()) return;
    this.send({ type: 'leave', reason });
    this.end('stopped', `left: ${reason}`, 1000);
  }

  /** The checked dataset this session holds, if any (for the next session of this tab). */
  heldDataset(): HeldDataset | null {
    return this.data === null || this.dataId === null ? null : { id: this.dataId, data: this.data, fromCache: this.status.datasetFromCache };
  }

  private ended(): boolean {
    return this.status.state === 'stopped' || this.status.state === 'refused' || this.status.state === 'lost';
  }

  private connect(): void {
    this.setState('connecting', this.attempt === 0 ? '' : `reconnecting (attempt ${this.attempt + 1})`);
    const socket = new WebSocket(this.options.url);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.lostSince = null;
      this.send({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        ...(this.options.token === undefined ? {} : { token: this.options.token }),
        name: this.options.name,
        datasetHash: this.dataId,
        kernels: 'wasm',
        runtime: this.options.runtime,
        simd: true,
        relaxedSimd: this.options.variant === 'relaxed',
      });
    };
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket !== socket) return;
      const bytes = event.data instanceof ArrayBuffer ? new Uint8Array(event.data) : null;
      this.status.bytesIn += bytes?.byteLength ?? 0;
      this.queue = this.queue.then(() => this.onFrame(bytes)).catch((error: unknown) => this.fail(error));
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.ended()) return;
      this.retryLater(opened ? `connection lost (${event.code})` : 'cannot reach the coordinator');
    };
  }

  private retryLater(why: string): void {
    this.lostSince ??= Date.now();
    if (Date.now() - this.lostSince > RETRY.forMs) return this.end('lost', `${why}; gave up after ${RETRY.forMs / 1000} s`);
    const delay = Math.min(RETRY.maxMs, RETRY.firstMs * 2 ** this.attempt++);
    this.setState('connecting', `${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
    setTimeout(() => !this.ended() && this.socket === null && this.connect(), delay);
  }

  private async onFrame(bytes: Uint8Array | null): Promise<void> {
    if (this.ended()) return;
    const started = performance.now();
    let message: Message;
    try {
      if (bytes === null) throw new ProtocolError('BAD_FRAME', 'text frame');
      message = decodeMessage(bytes, this.limits);
    } catch (error) {
      const code = error instanceof ProtocolError ? error.code : 'BAD_FRAME';
      this.send({ type: 'error', code, message: (error as Error).message, fatal: false });
      return this.setState(this.status.state, `bad frame from the coordinator (${code}): ${(error as Error).message}`);
    }
    const decodeMs = performance.now() - started;
    switch (message.type) {
      case 'welcome':
        return this.onWelcome(message);
      case 'dataset':
        return this.onDataset(message, bytes!);
      case 'step': {
        const engine = this.requireEngine();
        const answer = this.wire.encodeGradient(engine.step(this.wire.onJob(message), decodeMs), message);
        this.status.slices++;
        this.status.images += answer.count;
        this.status.computeMs += answer.computeMs;
        this.send(answer);
        return this.report(false);
      }
      case 'evaluate':
        this.send(this.requireEngine().evaluate(this.wire.onJob(message)));
        return;
      case 'update':
        this.requireEngine();
        return this.wire.onUpdate(message);
      case 'stop':
        return this.end('stopped', `stopped by the coordinator: ${printable(message.reason)}`, 1000);
      case 'error': {
        const line = `${printable(message.code)}: ${printable(message.message)}`;
        if (!message.fatal) return this.setState(this.status.state, `the coordinator reports ${line}`);
        if (message.code === 'DATASET_MISMATCH' && this.dataId !== null) return this.dropKeptDataset();
        return this.end('refused', `refused by the coordinator (${line})`);
      }
      default:
        throw new Refusal('REFUSED', `unexpected ${message.type} message`);
    }
  }

  private onWelcome(message: WelcomeMessage): void {
    if (message.protocol !== PROTOCOL_VERSION) throw new Refusal('REFUSED', `coordinator speaks protocol ${message.protocol}, this page ${PROTOCOL_VERSION}`);
    this.checkWire(message);
    this.wire.onWelcome(message);
    this.status.workerId = message.workerId;
    this.limits = { ...this.limits, paramCount: message.paramCount };
    const sameModel = this.engine !== null && JSON.stringify(this.engine.spec) === JSON.stringify(message.spec);
    if (!sameModel) this.engine = null;
    if (!sameModel && this.data !== null) this.engine = new ComputeEngine(message.spec, message.paramCount, this.data, createWasmKernels());
    this.pendingWelcome = this.engine === null ? message : null;
    this.setState(message.sendingDataset ? 'downloading' : 'ready', message.sendingDataset ? 'receiving the dataset (kept in this browser for next time)' : '');
  }

  /** A codec this page does not speak (a newer coordinator) is refused with one line on the page, never a crash mid-step. */
  private checkWire(message: WelcomeMessage): void {
    const wire = message.wire ?? 'fp32';
    if (!SUPPORTED_WIRES.has(wire)) {
      throw new Refusal('UNSUPPORTED_WIRE', `the coordinator sends gradients as "${String(wire)}"; this page speaks ${[...SUPPORTED_WIRES].join(', ')} only`);
    }
  }

  private async onDataset(message: DatasetMessage, frame: Uint8Array): Promise<void> {
    const data = await checkedData(message);
    this.data = data;
    this.dataId = message.hash;
    this.status.datasetFromCache = false;
    const welcome = this.pendingWelcome;
    if (welcome !== null) this.engine = new ComputeEngine(welcome.spec, welcome.paramCount, data, createWasmKernels());
    this.pendingWelcome = null;
    this.setState('ready', '');
    // NOTE: not stored from this thread: a 55 MB Cache Storage write held this thread's socket
    // events back for seconds (the slices waited); the page's thread stores it (options.keep).
    this.options.keep(message.hash, frame);
  }

  /** The kept dataset is not this run's: forget it and join again asking for the coordinator's. */
  private async dropKeptDataset(): Promise<void> {
    this.data = null;
    this.dataId = null;
    this.status.datasetFromCache = false;
    await this.options.store?.forget();
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, 'dataset mismatch');
    this.connect();
  }

  private requireEngine(): ComputeEngine {
    if (this.engine === null || this.status.state !== 'ready') throw new Refusal('REFUSED', 'work sent before the handshake finished');
    return this.engine;
  }

  /**
   * Sends one message if the socket is open. WebSocket.send copies the bytes (as does a
   * Blob's constructor), so the frame buffer is free at once.
   * NOTE: a large frame (a gradient) goes as a Blob: Chromium uploads a Blob several times
   * faster than the same bytes given as an ArrayBuffer (bench/README.md, "Browser worker").
   */
  private send(message: Message): void {
    const socket = this.socket;
    if (socket === null || socket.readyState !== WebSocket.OPEN) return;
    const frame = this.frames.encode(message);
    // (FrameWriter's frames are views of plain ArrayBuffers, never shared ones.)
    socket.send(frame.byteLength >= BLOB_FRAME_BYTES ? new Blob([frame as Uint8Array<ArrayBuffer>]) : frame);
    this.frames.release(frame);
    this.status.bytesOut += frame.byteLength;
  }

  /** A coded error (ours, or core's: a model it cannot build) ends the session with a line for both sides. */
  private fail(error: unknown): void {
    const code = (error as { code?: unknown }).code;
    const text = error instanceof Error ? error.message : String(error);
    if (typeof code !== 'string') console.error(error);
    this.send({ type: 'error', code: typeof code === 'string' ? code : 'PAGE_ERROR', message: text, fatal: true });
    this.end('refused', `this page stopped: ${text}`, 1000);
  }

  private end(state: SessionState, detail: string, closeCode?: number): void {
    this.setState(state, detail);
    const socket = this.socket;
    this.socket = null;
    if (socket !== null && closeCode !== undefined) socket.close(closeCode, detail.slice(0, 100));
  }

  private setState(state: SessionState, detail: string): void {
    this.status.state = state;
    this.status.detail = detail;
    this.report(true);
  }

  /** Status to the page: at every change of state, and at most every 200 ms while slices go by. */
  private report(now: boolean): void {
    const time = performance.now();
    if (!now && time - this.lastReport < 200) {
      this.trailingReport ??= setTimeout(() => this.report(true), 200);
      return;
    }
    if (this.trailingReport !== null) clearTimeout(this.trailingReport);
    this.trailingReport = null;
    this.lastReport = time;
    this.options.report({ ...this.status });
  }
}

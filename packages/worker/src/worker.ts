/**
 * A Convoy worker's conversation with its coordinator: says hello (protocol version, token,
 * dataset id), takes the welcome (and the dataset when it has none), then answers every
 * `step` with gradient sums and every `evaluate` with forward-only results (compute.ts),
 * until told to stop; it watches the coordinator's heartbeat. The socket, its retries with
 * backoff (a restarted coordinator, `--resume`, gets its workers back) and the lifecycle
 * state are connection.ts's; the options and their defaults are options.ts's.
 */
import {
  DEFAULT_LIMITS,
  FROM_COORDINATOR_TO_WORKER,
  MAX_WORKER_THREADS,
  PROTOCOL_VERSION,
  ProtocolError,
  decodeMessage,
  encodeMessage,
  bestWasmVariant,
  printable,
  WorkerWire,
  wasmKernelsBuilt,
  type DatasetMessage,
  type Kernels,
  type Message,
  type ModelSpec,
  type ProtocolLimits,
  type WelcomeMessage,
} from '@convoy/core';
import { selectNodeKernels } from '@convoy/core/node';
import type { Engine, WorkerData } from './compute.js';
import { createEngine } from './engine.js';
import { ComputeThreads } from './threads/pool.js';
import { Chaos, parseChaos, type ChaosIo } from './chaos.js';
import { Connection, WorkerState, type WorkerExit, type WorkerStateName } from './connection.js';
import { loadLocalData, receivedData } from './dataset.js';
import { WorkerError } from './errors.js';
import { WORKER_DEFAULTS, type WorkerOptions } from './options.js';
import { PhaseClock } from './phases.js';
import { countSlice, type ProgressCount } from './progress.js';
import { ReadyFile } from './ready-file.js';

// Names this module exported before the connection and the options had files of their own.
export { WorkerState, zeroMask, type WorkerExit, type WorkerStateName } from './connection.js';
export { WORKER_DEFAULTS, type WorkerOptions } from './options.js';

export class Worker {
  readonly options: WorkerOptions;
  /** The link to the coordinator: socket, retries, and the lifecycle state (connection.ts). */
  private readonly link: Connection;
  private data: WorkerData | null = null;
  private localId: string | null = null;
  private engine: Engine | null = null;
  /** The compute threads (--threads 2 or more), started with the worker and kept across engines; null: compute on this thread. */
  private threads: ComputeThreads | null = null;
  /** Counts welcomes: an answer computed for an earlier session (before a reconnect) is not sent. */
  private session = 0;
  private workerId: number | undefined;
  private limits: ProtocolLimits = { ...DEFAULT_LIMITS, accept: FROM_COORDINATOR_TO_WORKER };
  private resolveExit!: (exit: WorkerExit) => void;
  readonly exited: Promise<WorkerExit>;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private lastHeard = Date.now();
  /** A welcome that arrived before the dataset it announced. */
  private pendingWelcome: WelcomeMessage | null = null;
  private readonly chaos: Chaos;
  /** The backend selected at start, for the first model; its name goes in hello (what runs, not what was asked). */
  private kernels: Kernels | null = null;
  private kernelsName = '';
  private progress: ProgressCount = { since: Date.now(), steps: 0, images: 0, epoch: 0 };
  /** --ready-file: exists exactly while joined and able to take work (ready-file.ts). */
  private readonly readyFile: ReadyFile | null;
  /** The phases each gradient reports (phases.ts), and when the frame being handled arrived. */
  private readonly phases = new PhaseClock();
  private frameArrivedAt = 0;
  /** The run's wire codec: replicas, compressed gradients (core's wire/worker-wire.ts). */
  private readonly wire = new WorkerWire();
  /** A slice is computing on the threads (a promise in flight). */
  private computing = false;
  /**
   * Work frames (step, evaluate, update) that arrived while a slice computes on the threads,
   * handled in order once it is answered. NOTE: a coordinator running --overlap sends the next
   * step and the update before it while this one computes; applied at once, the update would
   * change the replica under the slice's answer (its hash) and the next step would start too
   * early. On this thread, a computation blocks the socket's frames the same way.
   */
  private backlog: { readonly message: Message; readonly decodeMs: number; readonly arrivedAt: number }[] = [];

  constructor(options: Partial<WorkerOptions> & Pick<WorkerOptions, 'url'>) {
    this.options = { ...WORKER_DEFAULTS, ...options };
    if (!/^wss?:\/\//.test(this.options.url)) throw new WorkerError('BAD_OPTION', `--connect must be a ws:// or wss:// URL, got "${this.options.url}"`);
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
    this.chaos = new Chaos(parseChaos(this.options.chaos));
    this.readyFile = this.options.readyFile === undefined ? null : new ReadyFile(this.options.readyFile, this.options.log);
    const { threads } = this.options;
    if (!Number.isSafeInteger(threads) || threads < 1 || threads > MAX_WORKER_THREADS) throw new WorkerError('BAD_OPTION', `--threads must be an integer in [1, ${MAX_WORKER_THREADS}], got ${threads}`);
    if (this.chaos.threadExitStep !== undefined && threads < 2) throw new WorkerError('BAD_OPTION', '--chaos thread-exit needs --threads 2 or more');
    this.link = new Connection(this.options, {
      opened: () => this.hello(),
      frame: (bytes, isBinary) => this.onFrame(bytes, isBinary),
      pinged: () => (this.lastHeard = Date.now()),
      closed: () => {
        this.stopHeartbeat();
        this.readyFile?.clear();
      },
      gaveUp: (exit) => this.finish(exit),
      label: () => this.label(),
    });
  }

  get state(): WorkerStateName {
    return this.link.state;
  }

  set state(state: WorkerStateName) {
    this.link.state = state;
    if (state === WorkerState.READY) this.readyFile?.mark();
  }

  /** Loads the local dataset (when it has one) and connects. Resolves `exited` when done. */
  start(): Promise<WorkerExit> {
    if (this.options.localData) {
      const { data, id } = loadLocalData(this.options.dataDir, this.options.threads > 1);
      this.data = data;
      this.localId = id;
    }
    this.kernels = selectNodeKernels(this.options.kernels);
    this.kernelsName = this.kernels.name;
    if (this.options.threads === 1) {
      this.link.connect();
      return this.exited;
    }
    // The compute threads start first and the worker connects once they are up (pool.ts says
    // why). NOTE: not while connecting: a coordinator closes a connection silent for its
    // --handshake time (HANDSHAKE_TIMEOUT, a refusal), shorter than threads may take to start.
    // This thread's kernels only named the backend for hello.
    this.kernels = null;
    const exitAtStep = this.chaos.threadExitStep;
    const threads = new ComputeThreads({ threads: this.options.threads, kernels: this.options.kernels, ...(exitAtStep === undefined ? {} : { exitAtStep }) });
    this.threads = threads;
    threads.ready.then(
      () => this.state === WorkerState.CONNECTING && this.link.connect(),
      (error: Error) => this.finish({ code: 1, reason: error.message }),
    );
    return this.exited;
  }

  /** Ctrl-C: tell the coordinator, close, exit 0 (training goes on without us). */
  leave(reason: string): void {
    // NOTE: STOPPING too: under pnpm one Ctrl-C arrives twice (the terminal's and pnpm's forward).
    if (this.state === WorkerState.STOPPING || this.state === WorkerState.STOPPED) return;
    this.link.send({ type: 'leave', reason });
    this.finish({ code: 0, reason: `left: ${reason}` });
  }

  /** The socket is open: the first message names the protocol, the token, the dataset and the backend in use. */
  private hello(): void {
    this.link.send({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      ...(this.options.token === undefined ? {} : { token: this.options.token }),
      name: this.options.name,
      datasetHash: this.localId,
      kernels: this.kernelsName,
      threads: this.options.threads,
      ...nodeCapabilities(),
    });
  }

  private onFrame(bytes: Buffer, isBinary: boolean): void {
    this.lastHeard = Date.now();
    const started = performance.now();
    this.frameArrivedAt = started;
    let message: Message;
    try {
      if (!isBinary) throw new ProtocolError('BAD_FRAME', 'text frame');
      message = decodeMessage(bytes, this.limits);
    } catch (error) {
      const code = error instanceof ProtocolError ? error.code : 'BAD_FRAME';
      this.options.log(`${this.label()}: bad frame from the coordinator (${code}): ${(error as Error).message}`);
      this.link.send({ type: 'error', code, message: (error as Error).message, fatal: false });
      return;
    }
    const decodeMs = performance.now() - started;
    if (this.computing && (message.type === 'step' || message.type === 'evaluate' || message.type === 'update')) {
      this.backlog.push({ message, decodeMs, arrivedAt: started });
      return;
    }
    this.handleCaught(message, decodeMs);
  }

  private handleCaught(message: Message, decodeMs: number): void {
    try {
      this.handle(message, decodeMs);
    } catch (error) {
      this.failWith(error);
    }
  }

  /** The slice on the threads is answered: the frames that waited for it, in order, until one computes again. */
  private drainBacklog(): void {
    while (!this.computing && this.backlog.length > 0) {
      const { message, decodeMs, arrivedAt } = this.backlog.shift()!;
      this.frameArrivedAt = arrivedAt;
      this.handleCaught(message, decodeMs);
    }
  }

  /**
   * A coded error (ours, or core's: a model spec it cannot build, a dataset it cannot read) ends
   * this worker with a message to both sides; anything else is a bug and keeps its stack.
   */
  private failWith(error: unknown): void {
    const code = (error as { code?: unknown }).code;
    if (!(error instanceof Error) || typeof code !== 'string') throw error;
    this.link.send({ type: 'error', code, message: error.message, fatal: true });
    this.finish({ code: 1, reason: error.message });
  }

  /** `send` the answer now (computed on this thread) or when the engine's threads are done (failures end the worker like thrown ones). */
  private whenComputed<T>(answer: T | Promise<T>, send: (answer: T) => void): void {
    if (!(answer instanceof Promise)) return send(answer);
    const session = this.session;
    const current = () => this.session === session && this.state === WorkerState.READY;
    this.computing = true;
    const done = () => {
      this.computing = false;
      this.drainBacklog();
    };
    answer.then(
      (value) => {
        try {
          if (current()) send(value);
        } finally {
          done();
        }
      },
      (error: unknown) => {
        try {
          if (current()) this.failWith(error);
        } finally {
          done();
        }
      },
    );
  }

  private handle(message: Message, decodeMs: number): void {
    switch (message.type) {
      case 'welcome':
        return this.onWelcome(message);
      case 'dataset':
        return this.onDataset(message);
      case 'step': {
        const engine = this.requireEngine();
        const arrivedAt = this.frameArrivedAt;
        const job = this.wire.onJob(message);
        // After onJob: a full state in this very message would otherwise undo the slip.
        if (this.chaos.drift(message.step)) this.wire.perturbReplica();
        return this.whenComputed(engine.step(job, decodeMs), (computed) => {
          const encoded = this.wire.encodeGradient(computed, message);
          this.countProgress(message.epoch, message.indices.length);
          // NOTE: blocks like a slow computation would (no pong either), on purpose; it stands for
          // a slower machine, so its time is reported as compute.
          let delayMs = 0;
          if (this.options.stepDelayMs > 0) {
            const blocked = performance.now();
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, this.options.stepDelayMs);
            delayMs = performance.now() - blocked;
          }
          const answer = { ...encoded, computeMs: encoded.computeMs + delayMs, phases: this.phases.report(arrivedAt) };
          if (this.chaos.active && this.chaos.answer(answer, encodeMessage, this.chaosIo())) return;
          this.link.send(answer, this.phases.sending(performance.now()));
        });
      }
      case 'evaluate':
        return this.whenComputed(this.requireEngine().evaluate(this.wire.onJob(message)), (answer) => this.link.send(answer));
      case 'update':
        this.requireEngine();
        return this.wire.onUpdate(message);
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
    this.session++;
    // Work of the session before (a reconnect) is not done.
    this.backlog = [];
    this.limits = { ...this.limits, paramCount: message.paramCount };
    this.wire.onWelcome(message);
    const sameModel = this.engine !== null && JSON.stringify(this.engine.spec) === JSON.stringify(message.spec);
    if (!sameModel && this.data !== null) this.replaceEngine(this.newEngine(message.spec, message.paramCount, this.data));
    if (!sameModel && this.data === null) this.pendingWelcome = message;
    this.startHeartbeat(message.heartbeatMs);
    this.progress = { since: Date.now(), steps: 0, images: 0, epoch: 0 };
    if (!message.sendingDataset) this.state = WorkerState.READY;
    this.options.log(`worker ${message.workerId}: joined ${this.options.url}${message.sendingDataset ? ' (receiving the dataset)' : ''}`);
  }

  private onDataset(message: DatasetMessage): void {
    const { data, id } = receivedData(message, this.options.threads > 1);
    this.data = data;
    this.localId = id;
    const welcome = this.pendingWelcome;
    if (welcome !== null) this.replaceEngine(this.newEngine(welcome.spec, welcome.paramCount, this.data));
    this.pendingWelcome = null;
    this.state = WorkerState.READY;
  }

  /** Who this worker is in log lines: the coordinator's number once it has one. */
  private label(): string {
    return this.workerId === undefined ? 'worker' : `worker ${this.workerId}`;
  }

  private newEngine(spec: ModelSpec, paramCount: number, data: WorkerData): Engine {
    return createEngine(spec, paramCount, data, this.threads === null ? { threads: null, takeKernels: () => this.takeKernels() } : { threads: this.threads });
  }

  private replaceEngine(engine: Engine): void {
    void this.engine?.close();
    this.engine = engine;
  }

  /** The kernels for a new compute engine: the ones selected at start first, then fresh ones (a backend's arrays are its own). */
  private takeKernels(): Kernels {
    const kernels = this.kernels ?? selectNodeKernels(this.options.kernels);
    this.kernels = null;
    return kernels;
  }

  /** A line every progressEveryMs while slices arrive: a remote worker's terminal is not silent. */
  private countProgress(epoch: number, images: number): void {
    const line = countSlice(this.progress, epoch, images, this.options.progressEveryMs);
    if (line !== null) this.options.log(`${this.label()}: ${line}`);
  }

  private requireEngine(): Engine {
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
        this.link.terminate();
      }
    }, Math.min(500, heartbeatMs / 4));
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private chaosIo(): ChaosIo {
    return {
      send: (message) => this.link.send(message),
      cut: (frameLength, bytes) => this.link.cut(frameLength, bytes),
      leave: (reason) => this.leave(reason),
      log: this.options.log,
    };
  }

  private finish(exit: WorkerExit): void {
    if (this.state === WorkerState.STOPPED) return;
    this.state = WorkerState.STOPPING;
    this.readyFile?.clear();
    this.stopHeartbeat();
    void this.engine?.close();
    void this.threads?.close();
    this.link.close(exit.reason, () => this.resolveExit(exit));
  }
}

/** What this worker's hello says about its engine: Node's version, and the WebAssembly SIMD it runs (when the kernels are built). */
function nodeCapabilities(): { runtime: string; simd?: boolean; relaxedSimd?: boolean } {
  const runtime = `node ${process.versions.node}`;
  if (!wasmKernelsBuilt()) return { runtime };
  const variant = bestWasmVariant();
  return { runtime, simd: variant !== null, relaxedSimd: variant === 'relaxed' };
}

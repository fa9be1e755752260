/**
 * The coordinator's network side: one HTTP server (for the dashboard, through a handler
 * slot) with a WebSocket server on the same port. A connection starts in `handshaking`
 * and must send `hello` (a worker) or `subscribe` (a dashboard) within handshakeMs;
 * workers are then driven by the Scheduler, dashboards only receive metrics.
 *
 * Connection states: handshaking -> worker (joining -> idle <-> computing -> gone) | dashboard.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  DEFAULT_LIMITS,
  FIRST_MESSAGE,
  FROM_WORKER,
  PROTOCOL_VERSION,
  ProtocolError,
  decodeMessage,
  encodeMessage,
  type HelloMessage,
  type Message,
  type ModelSpec,
  type ProtocolLimits,
  type RunEventName,
} from '@convoy/core';
import { WebSocket, WebSocketServer } from 'ws';
import { CoordinatorError, type ServerOptions } from './defaults.js';
import type { MetricsHub } from './metrics.js';
import { WorkerPeer } from './peers.js';
import { Scheduler, type SchedulerHost } from './scheduler.js';

/** What the server tells joining workers. */
export interface RunIdentity {
  readonly spec: ModelSpec;
  readonly paramCount: number;
  readonly datasetId: string;
  /** The encoded `dataset` message, built on first request (a worker without local data). */
  readonly datasetFrame: () => Uint8Array;
  /** Most images in one assignment (the global batch, or the evaluation chunk). */
  readonly maxSliceLength: number;
}

/** Returns true when it handled the request. */
export type HttpHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

/** Workers table updates go to dashboards at most this often (plus on every state change). */
const WORKERS_RECORD_INTERVAL_MS = 1_000;
const GONE_ROWS_KEPT = 32;
/** A worker whose frames fail validation more often than this is disconnected (an honest one sends none). */
const MAX_BAD_FRAMES = 16;
/** Connections that have not said hello/subscribe yet; beyond this new ones are refused at once, so a connection flood holds no memory. */
const MAX_HANDSHAKING = 256;
/** Open TCP connections of any kind (workers, dashboards, page loads); beyond this Node closes new sockets at once. */
const MAX_CONNECTIONS = 2_048;

export class CoordinatorServer implements SchedulerHost {
  readonly scheduler: Scheduler;
  readonly peers = new Map<number, WorkerPeer>();
  /** packages/dashboard plugs its page in here; the default answers /health and a plain page. */
  httpHandler: HttpHandler | null = null;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly limits: ProtocolLimits;
  private nextWorkerId = 1;
  /** Connections still in `handshaking` (bounded by MAX_HANDSHAKING). */
  private handshaking = 0;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private workersTimer: NodeJS.Timeout | null = null;
  private changeTimer: NodeJS.Timeout | null = null;
  /** When the last workers record went out (Date.now()). */
  private lastWorkersRecord = 0;
  /** Set by close(): the connections that end now are not deaths. */
  private closing = false;
  private readonly waiters: (() => void)[] = [];
  /** Totals for the step breakdown: milliseconds spent encoding and decoding frames, bytes each way. */
  private readonly totals = { encodeMs: 0, decodeMs: 0, bytesOut: 0, bytesIn: 0 };
  /** The step in progress, for event records. */
  currentStep = 0;

  constructor(
    private readonly options: ServerOptions,
    private readonly run: RunIdentity,
    readonly metrics: MetricsHub,
  ) {
    this.scheduler = new Scheduler(this, options);
    this.limits = { ...DEFAULT_LIMITS, paramCount: run.paramCount, maxSliceLength: run.maxSliceLength };
    // NOTE: Node waits 60 s for the headers of a request (and checks only every 30 s): a peer
    // sending garbage or nothing would hold its socket that long. Here it gets the handshake deadline.
    const requestMs = Math.max(1_000, options.handshakeMs);
    const httpOptions = { headersTimeout: requestMs, requestTimeout: 4 * requestMs, connectionsCheckingInterval: Math.min(1_000, requestMs) };
    const handler = (request: IncomingMessage, response: ServerResponse) => this.onHttp(request, response);
    this.http = options.tlsCert !== undefined && options.tlsKey !== undefined ? createTlsServer({ ...httpOptions, ...readTlsFiles(options.tlsCert, options.tlsKey) }, handler) : createServer(httpOptions, handler);
    this.http.maxConnections = MAX_CONNECTIONS;
    // The largest frame a worker sends is a gradient: 4 bytes per parameter plus a few hundred bytes of fields.
    const maxPayload = 4 * run.paramCount + 64 * 1024 + 2 * run.maxSliceLength;
    this.wss = new WebSocketServer({ server: this.http, maxPayload, perMessageDeflate: false });
    // NOTE: ws re-emits the http server's errors here, and an unheard 'error' event throws. The
    // one that matters, the port being taken, is reported by listen() as LISTEN_FAILED; after
    // that an accept error (too many open files) costs one connection, not the run.
    this.wss.on('error', () => undefined);
    this.wss.on('connection', (socket, request) => this.onConnection(socket, request));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const fail = (error: Error) => reject(new CoordinatorError('LISTEN_FAILED', `cannot listen on ${this.options.host}:${this.options.port}: ${error.message}`));
      this.http.once('error', fail);
      this.http.listen(this.options.port, this.options.host, () => {
        this.http.off('error', fail);
        resolve();
      });
    });
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.options.heartbeatMs / 2);
    this.workersTimer = setInterval(() => Date.now() - this.lastWorkersRecord >= WORKERS_RECORD_INTERVAL_MS / 2 && this.publishWorkers(), WORKERS_RECORD_INTERVAL_MS);
    return this.port;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  /** Live workers (idle or computing). */
  liveCount(): number {
    let count = 0;
    for (const peer of this.peers.values()) if (peer.live) count++;
    return count;
  }

  /** Resolves when at least `count` workers are live. */
  async waitForWorkers(count: number): Promise<void> {
    while (this.liveCount() < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Tells every worker to stop, closes all connections and the port. */
  async close(reason: string): Promise<void> {
    this.closing = true;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    if (this.workersTimer !== null) clearInterval(this.workersTimer);
    if (this.changeTimer !== null) clearTimeout(this.changeTimer);
    this.publishWorkers();
    const stop = encodeMessage({ type: 'stop', reason });
    const workers = new Set([...this.peers.values()].map((peer) => peer.socket));
    for (const socket of this.wss.clients) {
      if (socket.readyState !== WebSocket.OPEN) continue;
      // Workers are told to stop (and exit 0); dashboards already have the `end` record and just see the close.
      if (workers.has(socket)) socket.send(stop, { binary: true });
      socket.close(1001, 'coordinator stopping');
    }
    const closed = [...this.wss.clients].map((socket) => new Promise<void>((resolve) => {
      if (socket.readyState === WebSocket.CLOSED) return resolve();
      socket.once('close', () => resolve());
      setTimeout(() => (socket.terminate(), resolve()), 2_000).unref();
    }));
    await Promise.all(closed);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    for (const socket of this.wss.clients) socket.terminate();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  // ------------------------------------------------------------- SchedulerHost

  workers(): Iterable<WorkerPeer> {
    return this.peers.values();
  }

  counters(): Readonly<CoordinatorServer['totals']> {
    return { ...this.totals };
  }

  send(peer: WorkerPeer, message: Message): void {
    if (peer.socket.readyState !== WebSocket.OPEN) return;
    const started = performance.now();
    if ((message.type === 'step' || message.type === 'evaluate') && message.params !== undefined) peer.version = message.version;
    // NOTE: a step's 4.8 MB of parameters are copied into this peer's own frame buffer, reused
    // once ws has written the previous frame (codec.ts says why a fresh buffer costs more).
    const frame = peer.frames.encode(message);
    this.sent(peer, performance.now() - started, frame.byteLength);
    peer.socket.send(frame, { binary: true }, () => peer.frames.release(frame));
  }

  private sent(peer: WorkerPeer, encodeMs: number, bytes: number): void {
    this.totals.encodeMs += encodeMs;
    this.totals.bytesOut += bytes;
    peer.bytesOut += bytes;
  }

  event(event: RunEventName, peer: WorkerPeer | null, detail: string): void {
    this.metrics.publish({ kind: 'event', event, step: this.currentStep, workerId: peer?.id ?? null, detail, time: Date.now() });
  }

  /** Batches table updates: many changes within a quarter second make one record. */
  changed(): void {
    if (this.changeTimer !== null) return;
    // NOTE: at most about one record a second: 32 workers change state twice a step, and each
    // record sent to 100 viewers costs the coordinator 2-8 ms (bench/load.ts).
    const wait = Math.max(250, WORKERS_RECORD_INTERVAL_MS - (Date.now() - this.lastWorkersRecord));
    this.changeTimer = setTimeout(() => {
      this.changeTimer = null;
      this.publishWorkers();
    }, wait);
  }

  // ------------------------------------------------------------- connections

  private onHttp(request: IncomingMessage, response: ServerResponse): void {
    if (this.httpHandler?.(request, response)) return;
    if (request.url === '/health') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ ok: true, workers: this.liveCount(), step: this.currentStep }));
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    response.end('Convoy coordinator. Workers and dashboards connect here over WebSocket.\n');
  }

  private onConnection(socket: WebSocket, request: IncomingMessage): void {
    const address = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`;
    // NOTE: first, before any return: an oversized or malformed frame makes ws emit 'error',
    // which without a listener would take the coordinator down. 'close' follows and says the rest.
    socket.on('error', () => undefined);
    if (this.closing) {
      // NOTE: a worker reconnecting while we shut down would otherwise be admitted after the
      // stops went out, never told, and keep http.close() waiting for its socket forever.
      socket.send(encodeMessage({ type: 'stop', reason: 'the coordinator is stopping' }), { binary: true });
      socket.close(1001, 'coordinator stopping');
      setTimeout(() => socket.terminate(), 1_000).unref();
      return;
    }
    if (this.handshaking >= MAX_HANDSHAKING) return this.refuse(socket, 'BUSY', `more than ${MAX_HANDSHAKING} connections are handshaking; try again later`);
    this.handshaking++;
    let handshaking = true;
    const handshakeOver = () => {
      if (handshaking) this.handshaking--;
      handshaking = false;
    };
    const handshake = setTimeout(() => this.refuse(socket, 'HANDSHAKE_TIMEOUT', `no hello within ${this.options.handshakeMs} ms`), this.options.handshakeMs);
    let peer: WorkerPeer | null = null;
    let dashboard = false;
    let bytesBeforeHello = 0;
    socket.on('message', (data: Buffer, isBinary) => {
      if (peer !== null) {
        peer.bytesIn += data.byteLength;
        peer.lastHeard = Date.now();
      } else bytesBeforeHello += data.byteLength;
      if (dashboard) return this.refuse(socket, 'UNEXPECTED_MESSAGE', 'a dashboard connection sends nothing after subscribe');
      let message: Message;
      const started = performance.now();
      this.totals.bytesIn += data.byteLength;
      try {
        if (!isBinary) throw new ProtocolError('BAD_FRAME', 'text frames are not part of the protocol');
        message = decodeMessage(data, { ...this.limits, accept: peer === null ? FIRST_MESSAGE : FROM_WORKER });
        this.totals.decodeMs += performance.now() - started;
      } catch (error) {
        const code = error instanceof ProtocolError ? error.code : 'BAD_FRAME';
        if (peer === null) return this.refuse(socket, code, (error as Error).message);
        this.badFrame(peer, code, (error as Error).message, true);
        return;
      }
      if (peer === null) {
        clearTimeout(handshake);
        handshakeOver();
        if (message.type === 'subscribe') {
          if (!this.checkHandshake(socket, message.protocol, message.token)) return;
          dashboard = true;
          this.metrics.addDashboard(socket);
          return;
        }
        if (message.type !== 'hello') return;
        peer = this.admit(socket, message, address);
        if (peer !== null) peer.bytesIn += bytesBeforeHello;
        return;
      }
      this.onWorkerMessage(peer, message);
    });
    socket.on('pong', () => {
      if (peer !== null) peer.lastHeard = Date.now();
    });
    socket.on('close', () => {
      clearTimeout(handshake);
      handshakeOver();
      if (peer !== null && peer.state !== 'gone' && !this.closing) this.gone(peer, 'death', 'connection closed');
    });
  }

  private checkHandshake(socket: WebSocket, protocol: number, token: string | undefined): boolean {
    if (protocol !== PROTOCOL_VERSION) {
      this.refuse(socket, 'PROTOCOL_VERSION', `protocol version mismatch: the coordinator speaks ${PROTOCOL_VERSION}, this peer ${protocol}`);
      return false;
    }
    if (this.options.token !== undefined && !sameSecret(token ?? '', this.options.token)) {
      this.refuse(socket, 'BAD_TOKEN', token === undefined ? 'this coordinator needs --token' : 'wrong token');
      return false;
    }
    return true;
  }

  private admit(socket: WebSocket, hello: HelloMessage, address: string): WorkerPeer | null {
    if (!this.checkHandshake(socket, hello.protocol, hello.token)) return null;
    if (hello.datasetHash !== null && hello.datasetHash !== this.run.datasetId) {
      this.refuse(
        socket,
        'DATASET_MISMATCH',
        `dataset mismatch: the worker's data (id ${hello.datasetHash}) differs from the coordinator's (id ${this.run.datasetId}); give both the same --data folder, or none`,
      );
      return null;
    }
    const id = this.nextWorkerId++;
    const peer = new WorkerPeer(id, hello.name, address, hello.kernels, socket);
    this.peers.set(id, peer);
    const sendingDataset = hello.datasetHash === null;
    this.send(peer, {
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      workerId: id,
      spec: this.run.spec,
      paramCount: this.run.paramCount,
      datasetHash: this.run.datasetId,
      sendingDataset,
      heartbeatMs: this.options.heartbeatMs,
    });
    if (sendingDataset) {
      const frame = this.run.datasetFrame();
      peer.bytesOut += frame.byteLength;
      socket.send(frame, { binary: true });
    }
    // NOTE: ws keeps frame order, so the worker has the dataset before any step reaches it.
    peer.state = 'idle';
    this.event('join', peer, `${hello.name} at ${address}${sendingDataset ? ' (dataset sent)' : ''}`);
    for (const resolve of this.waiters.splice(0)) resolve();
    this.scheduler.dispatch();
    return peer;
  }

  private onWorkerMessage(peer: WorkerPeer, message: Message): void {
    switch (message.type) {
      case 'gradient':
      case 'evaluation': {
        const problem = this.scheduler.answer(peer, message);
        // NOTE: a stale or repeated answer does not cost the worker its current slice.
        if (problem !== null) this.badFrame(peer, 'BAD_SLICE', problem, false);
        return;
      }
      case 'leave':
        this.gone(peer, 'leave', message.reason);
        peer.socket.close(1000, 'bye');
        return;
      case 'error':
        if (message.fatal) this.gone(peer, 'leave', `worker error ${message.code}: ${message.message}`);
        return;
      default:
        this.badFrame(peer, 'UNEXPECTED_MESSAGE', `unexpected ${message.type} from a worker`, false);
    }
  }

  private gone(peer: WorkerPeer, event: 'death' | 'leave', detail: string): void {
    if (peer.state === 'gone') return;
    peer.state = 'gone';
    peer.frames.clear(); // its frame buffer (4.8 MB with the default model) is not kept for a dashboard row
    this.forgetOldPeers();
    const owed = peer.assignment !== null && !peer.assignment.abandoned ? peer.assignment.end - peer.assignment.start : 0;
    this.event(event, peer, owed > 0 ? `${detail}; its slice of ${owed} images goes to the others` : detail);
    this.scheduler.lost(peer);
  }

  /** Keeps the rows of the last GONE_ROWS_KEPT departed workers on the dashboard, not every one ever seen. */
  private forgetOldPeers(): void {
    const gone = [...this.peers.values()].filter((peer) => peer.state === 'gone');
    for (const peer of gone.slice(0, Math.max(0, gone.length - GONE_ROWS_KEPT))) this.peers.delete(peer.id);
  }

  /**
   * A frame from a worker that failed validation: the worker is told why and, when the frame
   * may have been its answer (`loseSlice`), its slice goes to the others now; past
   * MAX_BAD_FRAMES it is disconnected.
   */
  private badFrame(peer: WorkerPeer, code: string, message: string, loseSlice: boolean): void {
    peer.badFrames++;
    if (peer.badFrames > MAX_BAD_FRAMES) {
      this.refuse(peer.socket, code, `${message} (more than ${MAX_BAD_FRAMES} invalid frames: disconnected)`);
      this.gone(peer, 'death', `disconnected after ${peer.badFrames} invalid frames (last: ${code})`);
      return;
    }
    this.sendError(peer.socket, code, message, false);
    if (loseSlice) this.scheduler.rejected(peer);
  }

  private refuse(socket: WebSocket, code: string, message: string): void {
    this.sendError(socket, code, message, true);
    socket.close(1008, code);
    setTimeout(() => socket.terminate(), 1_000).unref();
  }

  private sendError(socket: WebSocket, code: string, message: string, fatal: boolean): void {
    if (socket.readyState === WebSocket.OPEN) socket.send(encodeMessage({ type: 'error', code, message: message.slice(0, 1000), fatal }), { binary: true });
  }

  /** Pings every live connection; one silent for heartbeatMs is terminated (and its slice reassigned). */
  private heartbeat(): void {
    const now = Date.now();
    for (const peer of this.peers.values()) {
      if (peer.state === 'gone') continue;
      if (now - peer.lastHeard > this.options.heartbeatMs) {
        this.gone(peer, 'death', `no heartbeat for ${now - peer.lastHeard} ms`);
        peer.socket.terminate();
      } else if (peer.socket.readyState === WebSocket.OPEN) peer.socket.ping();
    }
    for (const socket of this.wss.clients) if (socket.readyState === WebSocket.OPEN) socket.ping();
  }

  private publishWorkers(): void {
    const now = Date.now();
    this.lastWorkersRecord = now;
    const rows = [...this.peers.values()].map((peer) => peer.row(now));
    this.metrics.publish({ kind: 'workers', workers: rows, time: now });
  }
}

/** The PEM files of --tls-cert/--tls-key, or a CoordinatorError naming the one that cannot be read. */
function readTlsFiles(certPath: string, keyPath: string): { cert: Buffer; key: Buffer } {
  const read = (flag: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new CoordinatorError('BAD_OPTION', `${flag} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  return { cert: read('--tls-cert', certPath), key: read('--tls-key', keyPath) };
}

/** Constant-time comparison of two secrets of any length (hash first, so lengths do not leak). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

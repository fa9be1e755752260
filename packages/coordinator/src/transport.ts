/**
 * The coordinator's WebSocket side, on the port of the HTTP server from http-gate.ts (which
 * also gates plain requests and hands dashboard pages to a handler slot). It owns the sockets,
 * the handshake, the limits, heartbeats and the dashboard viewers, and holds no training
 * state: what a worker says after its handshake goes to the TransportHandlers (workers.ts).
 *
 * Connection states (connection.ts): handshaking -> worker | dashboard -> closed. A
 * connection must send `hello` (a worker) or `subscribe` (a dashboard) within handshakeMs.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  DEFAULT_LIMITS,
  FIRST_MESSAGE,
  FROM_WORKER,
  PROTOCOL_VERSION,
  ProtocolError,
  decodeMessage,
  encodeMessage,
  type Message,
  type ModelSpec,
  type ProtocolLimits,
  type WireCodec,
} from '@convoy/core';
import { WebSocket, WebSocketServer } from 'ws';
import { AddressLimits, MAX_CONNECTIONS, MAX_HANDSHAKING, MAX_HANDSHAKING_PER_ADDRESS } from './admission.js';
import { Connection, type ConnectionState, type TransportCounters, type TransportHandlers } from './connection.js';
import { CoordinatorError, type ServerOptions } from './defaults.js';
import { answerHttp, createHttpServer, type HttpHandler } from './http-gate.js';
import { ANSWER_PROBE_GAP_MS, LINK_PROBE_MS } from './link-meter.js';
import { browserProblem, presentedToken, sameSecret } from './secrets.js';

/** What the transport tells joining workers. */
export interface RunIdentity {
  readonly spec: ModelSpec;
  readonly paramCount: number;
  readonly datasetId: string;
  /** The encoded `dataset` message, built on first request (a worker without local data). */
  readonly datasetFrame: () => Uint8Array;
  /** Most images in one assignment (the global batch, or the evaluation chunk). */
  readonly maxSliceLength: number;
  /** The run's codec (absent: fp32) and, for replica runs, the optimizer config every replica applies. */
  readonly wire?: WireCodec;
  readonly optimizer?: Readonly<Record<string, string | number | boolean>>;
  /** --overlap: replicas keep the parameters before each update, for lookahead steps. */
  readonly overlap?: boolean;
}

export type { HttpHandler } from './http-gate.js';

/** A worker whose frames fail validation more often than this is disconnected (an honest one sends none). */
const MAX_BAD_FRAMES = 16;
/**
 * The largest frame a connection may send before its `hello`/`subscribe` is accepted: both are
 * a few hundred bytes. ws refuses a larger frame at its header (close 1009) without buffering
 * it; without this limit, 200 unauthenticated connections could each park a frame just under
 * a gradient's size (about 1 GB with the default model). Admitted workers get the full limit.
 */
const MAX_HANDSHAKE_BYTES = 8 * 1024;

export class Transport {
  /** packages/dashboard plugs its page in here (behind the token check); without it, a plain page. */
  httpHandler: HttpHandler | null = null;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  /** The largest frame an admitted worker may send: a gradient plus its fields. */
  private readonly workerMaxPayload: number;
  private readonly limits: ProtocolLimits;
  private readonly connections = new Set<Connection>();
  private nextWorkerId = 1;
  private handshaking = 0;
  /** Per remote address: silent and handshaking connections (admission.ts). */
  private readonly addresses = new AddressLimits();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  /** Set by close(): the connections that end now are not deaths. */
  private closing = false;
  private readonly totals = { encodeMs: 0, decodeMs: 0, bytesOut: 0, bytesIn: 0 };

  constructor(
    private readonly options: ServerOptions,
    private readonly run: RunIdentity,
    private readonly handlers: TransportHandlers,
  ) {
    this.limits = { ...DEFAULT_LIMITS, paramCount: run.paramCount, maxSliceLength: run.maxSliceLength };
    this.http = createHttpServer(options, (request, response) => this.onHttp(request, response));
    this.http.maxConnections = MAX_CONNECTIONS;
    // NOTE: 'connection' is the raw TCP socket on the TLS server too; a socket is named by its
    // remote address and port, which its TLS socket (request.socket) shares.
    this.http.on('connection', (socket: Socket) => {
      if (!this.addresses.acceptSocket(socket)) socket.destroy();
    });
    this.http.on('upgrade', (request: IncomingMessage) => this.addresses.spoke(request.socket));
    // The largest frame a worker sends is a gradient: 4 bytes per parameter plus a few hundred bytes of fields.
    this.workerMaxPayload = 4 * run.paramCount + 64 * 1024 + 2 * run.maxSliceLength;
    this.wss = new WebSocketServer({
      server: this.http,
      // Every connection starts handshaking; setState raises the limit of an admitted worker.
      maxPayload: MAX_HANDSHAKE_BYTES,
      perMessageDeflate: false,
      // A web page's socket from another origin (or via another host name) is refused before
      // the upgrade: it never gets to send a frame (secrets.ts browserProblem says why).
      verifyClient: ({ req }, done) => {
        const problem = browserProblem(req, this.options.host, true);
        if (problem === null) return done(true);
        done(false, 403, `refused: ${problem}\n`, { 'Content-Type': 'text/plain; charset=utf-8' });
      },
    });
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
    this.probeTimer = setInterval(() => this.probeLinks(), LINK_PROBE_MS);
    return this.port;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  counters(): TransportCounters {
    return { ...this.totals };
  }

  /** Encodes `message` into the connection's own reusable buffer and sends it. */
  /** Sends `message`, or a frame already encoded (a replica update, encoded once for every worker). */
  send(connection: Connection, message: Message | Uint8Array): void {
    if (connection.socket.readyState !== WebSocket.OPEN) return;
    if (message instanceof Uint8Array) {
      this.totals.bytesOut += message.byteLength;
      connection.bytesOut += message.byteLength;
      connection.socket.send(message, { binary: true });
      return;
    }
    const started = performance.now();
    // NOTE: a step's 4.8 MB of parameters are copied into this connection's own frame buffer,
    // reused once ws has written the previous frame (codec.ts says why a fresh buffer costs more).
    const frame = connection.frames.encode(message);
    this.totals.encodeMs += performance.now() - started;
    this.totals.bytesOut += frame.byteLength;
    connection.bytesOut += frame.byteLength;
    connection.meter.frameSent(frame.byteLength, performance.now(), connection.socket.bufferedAmount);
    connection.socket.send(frame, { binary: true }, () => {
      connection.writtenAt = performance.now();
      connection.frames.release(frame);
    });
  }

  /** Tells every worker to stop, closes all connections and the port. */
  async close(reason: string): Promise<void> {
    this.closing = true;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    if (this.probeTimer !== null) clearInterval(this.probeTimer);
    const stop = encodeMessage({ type: 'stop', reason });
    for (const connection of this.connections) {
      const socket = connection.socket;
      if (socket.readyState !== WebSocket.OPEN) continue;
      // Workers are told to stop (and exit 0); dashboards already have the `end` record and just see the close.
      if (connection.state === 'worker') socket.send(stop, { binary: true });
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
    // NOTE: close() waits for every open HTTP connection, and one still in its request (a
    // client whose upgrade has not arrived) would hold the exit until a timeout: end them.
    const httpClosed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await httpClosed;
  }

  private onHttp(request: IncomingMessage, response: ServerResponse): void {
    this.addresses.spoke(request.socket);
    answerHttp(request, response, this.options, this.port, this.httpHandler);
  }

  private onConnection(socket: WebSocket, request: IncomingMessage): void {
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
    const remote = request.socket.remoteAddress ?? '?';
    if (!this.addresses.startHandshake(remote)) {
      return this.refuse(socket, 'BUSY', `more than ${MAX_HANDSHAKING_PER_ADDRESS} connections from ${remote} are handshaking; try again later`);
    }
    const connection = new Connection(socket, `${remote}:${request.socket.remotePort ?? '?'}`, remote);
    // A dashboard page opened with the token holds its cookie: its upgrade request presents it.
    connection.tokenInUpgrade = this.options.token !== undefined && presentedToken(request, this.options.token, this.port) !== null;
    this.connections.add(connection);
    this.handshaking++;
    connection.handshakeTimer = setTimeout(() => this.refuse(socket, 'HANDSHAKE_TIMEOUT', `no hello within ${this.options.handshakeMs} ms`), this.options.handshakeMs);
    socket.on('message', (data: Buffer, isBinary) => this.onFrame(connection, data, isBinary));
    // The link meter sees each chunk before ws parses it (prepended): a frame's first chunk
    // is when it began to arrive. NOTE: request.socket is the socket ws reads (TLS: decrypted).
    request.socket.prependListener('data', (chunk: Buffer) => connection.meter.chunk(chunk.byteLength, performance.now()));
    socket.on('pong', (payload: Buffer) => {
      connection.lastHeard = Date.now();
      connection.answeredPingAt = connection.pingedAt;
      connection.meter.pong(payload, performance.now());
    });
    socket.on('close', () => {
      const wasWorker = connection.state === 'worker';
      this.setState(connection, 'closed');
      this.connections.delete(connection);
      if (wasWorker && !this.closing) this.handlers.gone(connection, 'death', 'connection closed');
    });
  }

  /** Moves a connection to `next`, keeping the handshake count and frame buffer right. */
  private setState(connection: Connection, next: ConnectionState): void {
    const previous = connection.state;
    if (previous === next) return;
    connection.state = next;
    if (previous === 'handshaking') {
      this.handshaking--;
      this.addresses.endHandshake(connection.remoteAddress);
      if (connection.handshakeTimer !== null) clearTimeout(connection.handshakeTimer);
      connection.handshakeTimer = null;
    }
    if (next === 'worker') raiseFrameLimit(connection.socket, this.workerMaxPayload);
    // Its frame buffer (4.8 MB with the default model) is not kept for a departed worker.
    if (next === 'closed') connection.frames.clear();
  }

  private onFrame(connection: Connection, data: Buffer, isBinary: boolean): void {
    connection.bytesIn += data.byteLength;
    connection.meter.frameReceived(data.byteLength, performance.now());
    connection.lastHeard = Date.now();
    this.totals.bytesIn += data.byteLength;
    const state = connection.state;
    switch (state) {
      case 'closed':
        return;
      case 'dashboard':
        return this.refuse(connection.socket, 'UNEXPECTED_MESSAGE', 'a dashboard connection sends nothing after subscribe');
      case 'handshaking':
      case 'worker':
        break;
      default: {
        const unknown: never = state;
        throw new Error(`unknown connection state ${String(unknown)}`);
      }
    }
    let message: Message;
    const started = performance.now();
    try {
      if (!isBinary) throw new ProtocolError('BAD_FRAME', 'text frames are not part of the protocol');
      message = decodeMessage(data, { ...this.limits, accept: state === 'handshaking' ? FIRST_MESSAGE : FROM_WORKER });
      this.totals.decodeMs += performance.now() - started;
    } catch (error) {
      const code = error instanceof ProtocolError ? error.code : 'BAD_FRAME';
      if (state === 'handshaking') return this.refuse(connection.socket, code, (error as Error).message);
      return this.badFrame(connection, code, (error as Error).message, true);
    }
    if (state === 'handshaking') return this.handshake(connection, message);
    this.onWorkerMessage(connection, message);
  }

  private handshake(connection: Connection, message: Message): void {
    const socket = connection.socket;
    if (message.type === 'subscribe') {
      const admitted = this.checkHandshake(connection, message.protocol, message.token);
      this.setState(connection, admitted ? 'dashboard' : 'closed');
      if (admitted) this.handlers.viewer(socket);
      return;
    }
    if (message.type !== 'hello') return;
    const admitted = this.checkHandshake(connection, message.protocol, message.token) && this.checkDataset(socket, message.datasetHash);
    this.setState(connection, admitted ? 'worker' : 'closed');
    if (!admitted) return;
    connection.workerId = this.nextWorkerId++;
    const sendingDataset = message.datasetHash === null;
    this.send(connection, {
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      workerId: connection.workerId,
      spec: this.run.spec,
      paramCount: this.run.paramCount,
      datasetHash: this.run.datasetId,
      sendingDataset,
      heartbeatMs: this.options.heartbeatMs,
      // fp32 runs send no codec fields: a worker of before --wire joins them as ever.
      ...(this.run.wire === undefined || this.run.wire === 'fp32' ? {} : { wire: this.run.wire, optimizer: { ...this.run.optimizer }, ...(this.run.overlap === true ? { overlap: true } : {}) }),
    });
    if (sendingDataset) {
      const frame = this.run.datasetFrame();
      connection.bytesOut += frame.byteLength;
      socket.send(frame, { binary: true });
    }
    // NOTE: ws keeps frame order, so the worker has the dataset before any step reaches it.
    this.handlers.joined(connection, message);
  }

  private onWorkerMessage(connection: Connection, message: Message): void {
    // A gradient answers the step frame sent last: its timing gives the download estimate.
    if (message.type === 'gradient') connection.meter.answered(message.decodeMs + message.computeMs);
    if (message.type === 'gradient' || message.type === 'evaluation') this.probeLink(connection, ANSWER_PROBE_GAP_MS);
    switch (message.type) {
      case 'gradient':
      case 'evaluation': {
        const problem = this.handlers.answer(connection, message);
        // NOTE: a stale or repeated answer does not cost the worker its current slice.
        if (problem !== null) this.badFrame(connection, 'BAD_SLICE', problem, false);
        return;
      }
      case 'leave':
        this.gone(connection, 'leave', message.reason);
        return;
      case 'error':
        if (message.fatal) this.gone(connection, 'leave', `worker error ${message.code}: ${message.message}`);
        return;
      default:
        this.badFrame(connection, 'UNEXPECTED_MESSAGE', `unexpected ${message.type} from a worker`, false);
    }
  }

  /**
   * The worker is out of the run: its socket is closed now (a worker marked gone must not keep
   * a connection, nor hear steps it no longer takes part in), then the table is told.
   */
  private gone(connection: Connection, event: 'death' | 'leave', detail: string): void {
    if (connection.state !== 'worker') return;
    this.setState(connection, 'closed');
    const socket = connection.socket;
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
      socket.close(event === 'leave' ? 1000 : 1008, event === 'leave' ? 'bye' : 'gone');
      setTimeout(() => socket.terminate(), 1_000).unref();
    }
    this.handlers.gone(connection, event, detail);
  }

  /**
   * A frame from a worker that failed validation: the worker is told why and, when the frame
   * may have been its answer (`loseSlice`), its slice goes to the others now; past
   * MAX_BAD_FRAMES it is disconnected.
   */
  private badFrame(connection: Connection, code: string, message: string, loseSlice: boolean): void {
    connection.badFrames++;
    if (connection.badFrames > MAX_BAD_FRAMES) {
      this.refuse(connection.socket, code, `${message} (more than ${MAX_BAD_FRAMES} invalid frames: disconnected)`);
      this.gone(connection, 'death', `disconnected after ${connection.badFrames} invalid frames (last: ${code})`);
      return;
    }
    this.sendError(connection.socket, code, message, false);
    if (loseSlice) this.handlers.rejected(connection);
  }

  private checkHandshake(connection: Connection, protocol: number, token: string | undefined): boolean {
    const socket = connection.socket;
    if (protocol !== PROTOCOL_VERSION) {
      this.refuse(socket, 'PROTOCOL_VERSION', `protocol version mismatch: the coordinator speaks ${PROTOCOL_VERSION}, this peer ${protocol}`);
      return false;
    }
    if (this.options.token !== undefined && !connection.tokenInUpgrade && !sameSecret(token ?? '', this.options.token)) {
      this.refuse(socket, 'BAD_TOKEN', token === undefined ? 'this coordinator needs --token' : 'wrong token');
      return false;
    }
    return true;
  }

  private checkDataset(socket: WebSocket, datasetHash: string | null): boolean {
    if (datasetHash === null || datasetHash === this.run.datasetId) return true;
    this.refuse(
      socket,
      'DATASET_MISMATCH',
      `dataset mismatch: the worker's data (id ${datasetHash}) differs from the coordinator's (id ${this.run.datasetId}); give both the same --data folder, or none`,
    );
    return false;
  }

  private refuse(socket: WebSocket, code: string, message: string): void {
    this.sendError(socket, code, message, true);
    socket.close(1008, code);
    setTimeout(() => socket.terminate(), 1_000).unref();
  }

  private sendError(socket: WebSocket, code: string, message: string, fatal: boolean): void {
    if (socket.readyState === WebSocket.OPEN) socket.send(encodeMessage({ type: 'error', code, message: message.slice(0, 1000), fatal }), { binary: true });
  }

  /** Pings every open connection; a worker silent for heartbeatMs is terminated (and its slice reassigned). */
  private heartbeat(): void {
    const now = Date.now();
    for (const connection of this.connections) {
      if (connection.state === 'worker' && now - connection.lastHeard > this.options.heartbeatMs) {
        this.gone(connection, 'death', `no heartbeat for ${now - connection.lastHeard} ms`);
        connection.socket.terminate();
      }
    }
    const pingedAt = performance.now();
    for (const connection of this.connections) connection.pingedAt = pingedAt;
    for (const socket of this.wss.clients) if (socket.readyState === WebSocket.OPEN) socket.ping();
  }

  /** Pings every worker not probed for LINK_PROBE_MS (link-meter.ts). */
  private probeLinks(): void {
    for (const connection of this.connections) this.probeLink(connection, LINK_PROBE_MS);
  }

  /** Pings a worker with a numbered payload, unless it was probed less than `gapMs` ago: its pong is a round-trip sample. */
  private probeLink(connection: Connection, gapMs: number): void {
    const now = performance.now();
    if (connection.state !== 'worker' || connection.socket.readyState !== WebSocket.OPEN || !connection.meter.probeDue(now, gapMs)) return;
    connection.socket.ping(connection.meter.nextProbe(now));
  }
}

/**
 * Lets an admitted worker send frames up to `bytes` (a gradient). NOTE: ws has one maxPayload
 * per server, read by each socket's receiver at every frame header; raising the receiver's
 * copy lifts the handshake's small limit from the worker's next frame on. The field is ws's
 * own (lib/receiver.js `_maxPayload`): transport.test.ts sends an admitted worker a frame over
 * the handshake limit, so a ws without it fails there, not in a run.
 */
function raiseFrameLimit(socket: WebSocket, bytes: number): void {
  const receiver = (socket as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver;
  if (receiver !== undefined && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
}

/**
 * A worker's link to its coordinator: opens the WebSocket (trusting --tls-ca, masking with
 * zeros), sends frames, and when the link drops retries with exponential backoff until
 * `retryForMs` has passed. "Never connected" (most likely a wrong address) and "connection
 * lost" (a coordinator restarting with --resume) log and give up with different words.
 * It holds the worker's lifecycle state; what the frames mean is worker.ts's job.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { FrameWriter, type Message } from '@convoy/core';
import { WebSocket } from 'ws';
import { frameHeader } from './chaos.js';
import { WorkerError, describeSocketError } from './errors.js';
import type { WorkerOptions } from './options.js';

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

/** What the link tells the worker it serves. */
export interface ConnectionEvents {
  /** The socket is open: time to say hello. */
  opened(): void;
  frame(bytes: Buffer, isBinary: boolean): void;
  /** The coordinator pinged: it is alive. */
  pinged(): void;
  /** The socket closed, for whatever reason (before any reconnection is planned). */
  closed(): void;
  /** Retrying is over: the worker ends with this exit. */
  gaveUp(exit: WorkerExit): void;
  /** Who the worker is in log lines. */
  label(): string;
}

/** Times (performance.now()) of one frame's way out. */
export interface SendTiming {
  encoded(at: number): void;
  written(at: number): void;
}

export class Connection {
  state: WorkerStateName = WorkerState.CONNECTING;
  private socket: WebSocket | null = null;
  /** When the coordinator was last lost (or first tried): retries stop retryForMs after it. */
  private disconnectedSince: number | null = null;
  private attempt = 0;
  private readonly trustedCa: Buffer | null;
  /** Where gradients are encoded: one 4.8 MB buffer reused step after step (codec.ts). */
  private readonly frames = new FrameWriter();
  /** Whether a connection was ever open: "never connected" and "connection lost" say different things. */
  private everConnected = false;
  /** Why the last connection attempt failed ("connection refused", "unknown host ..."). */
  private lastError = '';

  constructor(
    private readonly options: WorkerOptions,
    private readonly events: ConnectionEvents,
  ) {
    this.trustedCa = options.tlsCa === undefined ? null : readTrustedCa(options.tlsCa);
  }

  connect(): void {
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
      this.events.opened();
    });
    socket.on('message', (bytes: Buffer, isBinary) => this.events.frame(bytes, isBinary));
    socket.on('ping', () => this.events.pinged());
    socket.on('error', (error) => {
      this.lastError = describeSocketError(error);
      if (this.state !== WorkerState.CONNECTING) this.options.log(`${this.events.label()}: connection error: ${this.lastError}`);
    });
    socket.on('close', () => {
      this.events.closed();
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
      this.events.gaveUp({ code: 1, reason: `coordinator at ${url} unreachable: never connected${why}` });
      return;
    }
    if (Date.now() - this.disconnectedSince > retryForMs) {
      this.events.gaveUp({
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
          ? `${this.events.label()}: connection to ${url} lost${why}; retrying for ${seconds} s`
          : `worker: cannot reach the coordinator at ${url}${why}; retrying for ${seconds} s (--retry-for)`,
      );
    }
    this.state = WorkerState.CONNECTING;
    setTimeout(() => this.state === WorkerState.CONNECTING && this.connect(), delay);
  }

  /**
   * Sends one message if the socket is open (a message for a lost connection is dropped).
   * `timing` hears when the frame is encoded and when it is written out (phases.ts).
   */
  send(message: Message, timing?: SendTiming): void {
    const socket = this.socket;
    if (socket === null || socket.readyState !== WebSocket.OPEN) return;
    const frame = this.frames.encode(message);
    timing?.encoded(performance.now());
    let written = false;
    socket.send(frame, { binary: true }, () => {
      this.frames.release(frame);
      if (!written) timing?.written(performance.now());
    });
    // NOTE: a frame the kernel took whole is out now; ws's callback runs a turn or more later
    // (after a next step's computation, if one is queued), which would count that time as sending.
    if (socket.bufferedAmount === 0) {
      written = true;
      timing?.written(performance.now());
    }
  }

  /** Drops the socket without a closing handshake (a silent coordinator); its close event reconnects. */
  terminate(): void {
    this.socket?.terminate();
  }

  /** Chaos: writes `bytes` as the start of a frame announcing `frameLength` bytes, then destroys the TCP socket. */
  cut(frameLength: number, bytes: Uint8Array): void {
    // NOTE: ws has no API for half a frame: write to its TCP socket directly, then drop it.
    const tcp = (this.socket as unknown as { _socket?: Socket } | null)?._socket;
    tcp?.write(frameHeader(frameLength));
    tcp?.write(bytes, () => tcp.destroy());
  }

  /** Closes for good (the state is STOPPING until then), then sets STOPPED and calls `done`. */
  close(reason: string, done: () => void): void {
    const socket = this.socket;
    const stopped = () => {
      this.state = WorkerState.STOPPED;
      done();
    };
    if (socket === null || socket.readyState === WebSocket.CLOSED) return stopped();
    socket.once('close', stopped);
    socket.close(1000, reason.slice(0, 100));
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

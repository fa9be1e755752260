/**
 * One WebSocket connection as the transport sees it (its state, counters and frame buffer),
 * and what the transport hands on to the worker table.
 *
 * States: handshaking -> worker | dashboard -> closed.
 */
import { FrameWriter, type EvaluationMessage, type GradientMessage, type HelloMessage } from '@convoy/core';
import type { WebSocket } from 'ws';
import { LinkMeter, type LinkFigures } from './link-meter.js';
import type { LinkCounters } from './peers.js';

export type ConnectionState = 'handshaking' | 'worker' | 'dashboard' | 'closed';

/** One WebSocket connection: its state and what was sent and heard on it. */
export class Connection implements LinkCounters {
  state: ConnectionState = 'handshaking';
  /** Set when a worker's hello is accepted: the id its welcome carried. */
  workerId = 0;
  bytesIn = 0;
  bytesOut = 0;
  lastHeard = Date.now();
  /** performance.now() when the last frame sent to it was written out (0: none yet). */
  writtenAt = 0;
  /** performance.now() when the last ping went to it, and the send time of the last ping it answered (0: none). */
  pingedAt = 0;
  answeredPingAt = 0;
  /** Frames that failed validation; past MAX_BAD_FRAMES the connection is closed. */
  badFrames = 0;
  /** Its round trip and bandwidth, measured by the transport (link-meter.ts). */
  readonly meter = new LinkMeter();
  /** Where the frames sent to it are encoded (emptied when it closes). */
  readonly frames = new FrameWriter();
  handshakeTimer: NodeJS.Timeout | null = null;
  /** Its upgrade request presented the token (the dashboard's cookie): its first message need not. */
  tokenInUpgrade = false;

  constructor(
    readonly socket: WebSocket,
    /** "address:port", for events and logs. */
    readonly address: string,
    /** The remote address alone, for the per-address limits. */
    readonly remoteAddress: string = address,
  ) {}

  figures(): LinkFigures {
    return this.meter.figures();
  }
}

/** What the transport hands on; it never looks at training state itself. */
export interface TransportHandlers {
  /** A worker passed the handshake (its welcome and, if asked for, the dataset are sent). */
  joined(connection: Connection, hello: HelloMessage): void;
  /** An answer from a worker; an error text when it does not fit its assignment. */
  answer(connection: Connection, answer: GradientMessage | EvaluationMessage): string | null;
  /** A frame from the worker failed validation: its slice, if any, goes to the others. */
  rejected(connection: Connection): void;
  /** The worker is gone (connection closed, silent, left, fatal error). Called once. */
  gone(connection: Connection, event: 'death' | 'leave', detail: string): void;
  /** A dashboard subscribed. */
  viewer(socket: WebSocket): void;
}

/** Totals for the step breakdown: milliseconds spent encoding and decoding frames, bytes each way. */
export interface TransportCounters {
  readonly encodeMs: number;
  readonly decodeMs: number;
  readonly bytesOut: number;
  readonly bytesIn: number;
}

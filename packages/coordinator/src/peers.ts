/**
 * One connected worker as the scheduler sees it: its identity, work state, the parameter
 * version it holds, its outstanding assignment, and measured throughput.
 *
 * NOTE: the Scheduler is the only writer of the work state (state, version, assignment,
 * rates, slice size); the transport owns the connection and its counters (`link`).
 */
import type { WorkerRow, WorkerState } from '@convoy/core';
import type { LinkFigures } from './link-meter.js';

/** Smoothing of the throughput estimate: new = (1 - ALPHA) old + ALPHA measured. */
const ALPHA = 0.3;

/** What the transport counts for one connection (read here for the dashboard's row). */
export interface LinkCounters {
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Date.now() of the last frame or pong from it. */
  readonly lastHeard: number;
  /** performance.now() when the last frame sent to it was written out (0: none yet). */
  readonly writtenAt: number;
  /** performance.now() when the last ping it answered was sent (0: none): a worker computing answers none. */
  readonly answeredPingAt: number;
  /** Its measured round trip and bandwidth. */
  figures(): LinkFigures;
}

export interface Assignment {
  /** Unique per assignment in the run; the answer must echo it. */
  readonly round: number;
  /** The scheduler's number of the job it belongs to. */
  readonly job: number;
  /** The parameter version it computes with (the job's version when it was sent). */
  readonly version: number;
  readonly start: number;
  readonly end: number;
  /** When it was sent, or, queued behind another, when that one was answered: the worker could start it then. */
  sentAt: number;
  /** Milliseconds from sentAt; shortened once another worker is measured when it was a first (unmeasured) deadline. */
  deadlineMs: number;
  /** The deadline was given while nothing was measured (deadlineFirstMs). */
  readonly firstDeadline: boolean;
  /** Set when the deadline passed: the range went to others, a late answer is ignored. */
  abandoned: boolean;
  timer: NodeJS.Timeout | null;
}

export class WorkerPeer {
  state: WorkerState = 'joining';
  /** The parameter version this worker holds (-1: none). */
  version = -1;
  /** The assignment it computes now (or owes, abandoned). */
  assignment: Assignment | null = null;
  /**
   * --overlap: the next step's slice, sent while `assignment` is computed, so it is on the
   * worker when that answer leaves. Its deadline runs from then (Scheduler.promote).
   */
  queued: Assignment | null = null;
  /**
   * Images per second over the whole round trip (send to answer), as the coordinator
   * measures it; 0 = unmeasured. Slices and deadlines use it. NOTE: the worker's own
   * `computeMs` is never used here: a worker reporting 0 would get every image.
   */
  rate = 0;
  /** Answers measured so far (the first is not trusted: see `measured`). */
  private answersMeasured = 0;
  lastStepMs = 0;
  sliceSize = 0;
  /** Missed deadlines, refused gradients and slow answers in a row (the Scheduler demotes at STRIKES_TO_EXCLUDE). */
  strikes = 0;
  /** Times excluded so far: each exclusion lasts twice as long as the one before. */
  exclusions = 0;
  /** Excluded for a while after repeated strikes: live, but given no work. */
  excluded = false;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly address: string,
    readonly kernels: string,
    readonly link: LinkCounters,
    /** Its compute threads (hello's `threads`; 1 for workers that do not say). */
    readonly threads = 1,
    /** The runtime its hello named ("chrome 131", "node 20.19.2"), when it named one. */
    readonly runtime?: string,
  ) {}

  get live(): boolean {
    return this.state === 'idle' || this.state === 'computing';
  }

  /** Free for a new assignment: live, not excluded, and not still owing an answer (even an abandoned one). */
  get free(): boolean {
    return this.live && !this.excluded && this.assignment === null;
  }

  /** Free to take a slice queued behind the one it computes (--overlap's next step). */
  get canQueue(): boolean {
    return this.live && !this.excluded && this.queued === null;
  }

  /** Images it still owes (abandoned assignments excluded). */
  get owed(): number {
    let images = 0;
    for (const assignment of [this.assignment, this.queued]) if (assignment !== null && !assignment.abandoned) images += assignment.end - assignment.start;
    return images;
  }

  measured(count: number, roundTripMs: number): void {
    const rate = (1000 * count) / Math.max(roundTripMs, 0.01);
    // NOTE: a first answer carries one-time costs (the dataset still arriving, JIT and wasm
    // compilation), so it only stands in until the second, which replaces it rather than
    // being smoothed into it; otherwise a slow first slice shrinks the next several.
    this.answersMeasured++;
    this.rate = this.rate === 0 || this.answersMeasured === 2 ? rate : (1 - ALPHA) * this.rate + ALPHA * rate;
    this.lastStepMs = roundTripMs;
  }

  /** A strike halves the estimate, so the next slices shrink. */
  penalise(): void {
    this.rate /= 2;
  }

  row(now: number): WorkerRow {
    return {
      id: this.id,
      name: this.name,
      address: this.address,
      state: this.state,
      kernels: this.kernels,
      threads: this.threads,
      ...(this.runtime === undefined ? {} : { runtime: this.runtime }),
      imagesPerSecond: this.rate,
      lastStepMs: this.lastStepMs,
      sliceSize: this.sliceSize,
      bytesIn: this.link.bytesIn,
      bytesOut: this.link.bytesOut,
      heartbeatAgeMs: Math.max(0, now - this.link.lastHeard),
      ...this.link.figures(),
    };
  }
}

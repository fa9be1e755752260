/**
 * One connected worker as the scheduler sees it: its identity, work state, the parameter
 * version it holds, its outstanding assignment, and measured throughput.
 *
 * NOTE: the Scheduler is the only writer of the work state (state, version, assignment,
 * rates, slice size); the transport owns the connection and its counters (`link`).
 */
import type { WorkerRow, WorkerState } from '@convoy/core';

/** Smoothing of the throughput estimates: new = (1 - ALPHA) old + ALPHA measured. */
const ALPHA = 0.3;

/** What the transport counts for one connection (read here for the dashboard's row). */
export interface LinkCounters {
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Date.now() of the last frame or pong from it. */
  readonly lastHeard: number;
}

export interface Assignment {
  /** Unique per assignment in the run; the answer must echo it. */
  readonly round: number;
  readonly start: number;
  readonly end: number;
  readonly sentAt: number;
  /** Set when the deadline passed: the range went to others, a late answer is ignored. */
  abandoned: boolean;
  timer: NodeJS.Timeout | null;
}

export class WorkerPeer {
  state: WorkerState = 'joining';
  /** The parameter version this worker holds (-1: none). */
  version = -1;
  assignment: Assignment | null = null;
  /** Images per second of compute alone (slicing), and of the whole round trip (deadlines); 0 = unmeasured. */
  computeRate = 0;
  roundTripRate = 0;
  lastStepMs = 0;
  sliceSize = 0;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly address: string,
    readonly kernels: string,
    readonly link: LinkCounters,
  ) {}

  get live(): boolean {
    return this.state === 'idle' || this.state === 'computing';
  }

  /** Free for a new assignment: live, and not still owing an answer (even an abandoned one). */
  get free(): boolean {
    return this.live && this.assignment === null;
  }

  measured(count: number, computeMs: number, roundTripMs: number): void {
    const computeRate = (1000 * count) / Math.max(computeMs, 0.01);
    const roundTripRate = (1000 * count) / Math.max(roundTripMs, 0.01);
    this.computeRate = this.computeRate === 0 ? computeRate : (1 - ALPHA) * this.computeRate + ALPHA * computeRate;
    this.roundTripRate = this.roundTripRate === 0 ? roundTripRate : (1 - ALPHA) * this.roundTripRate + ALPHA * roundTripRate;
    this.lastStepMs = roundTripMs;
  }

  /** A missed deadline halves the estimates, so the next slices shrink. */
  penalise(): void {
    this.computeRate /= 2;
    this.roundTripRate /= 2;
  }

  row(now: number): WorkerRow {
    return {
      id: this.id,
      name: this.name,
      address: this.address,
      state: this.state,
      kernels: this.kernels,
      imagesPerSecond: this.roundTripRate,
      lastStepMs: this.lastStepMs,
      sliceSize: this.sliceSize,
      bytesIn: this.link.bytesIn,
      bytesOut: this.link.bytesOut,
      heartbeatAgeMs: Math.max(0, now - this.link.lastHeard),
    };
  }
}

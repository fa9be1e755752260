/**
 * The run's metrics: what a dashboard that connects mid-run needs is kept in memory (its
 * `snapshot`), every record is emitted as a 'record' event (for in-process listeners such as
 * the CLI's progress bar, history.jsonl or packages/dashboard), and pushed to subscribed
 * dashboard sockets as `metrics` messages.
 *
 * Memory stays bounded however long the run: every epoch, the newest steps at full
 * resolution, older steps thinned to an even stride, the newest events (METRICS_MEMORY).
 * A step's per-worker `links` are kept on the newest step only (the workers table reads
 * them there): with 32 workers they are ~3 KB a step, which over 4,000 kept steps would
 * make a snapshot near the 16 MB a dashboard may fall behind.
 * The whole history is in the run folder's history.jsonl (the downloads read it there).
 */
import { EventEmitter } from 'node:events';
import {
  encodeMessage,
  type EndRecord,
  type EpochRecord,
  type EventRecord,
  type MetricsRecord,
  type RunRecord,
  type SnapshotMessage,
  type StepRecord,
  type TestRecord,
  type TimingRecord,
  type WorkerRow,
} from '@convoy/core';
import { WebSocket } from 'ws';

/**
 * A dashboard that lets this much pile up unsent is too slow: it is dropped (it reconnects
 * and gets a snapshot). Counted as in memory: bytes queued (ws's bufferedAmount) plus
 * FRAME_OVERHEAD_BYTES per frame not yet written.
 */
const MAX_DASHBOARD_BACKLOG = 16 * 1024 * 1024;
/** All dashboards' backlogs together; past it the one furthest behind is dropped, until under. */
const MAX_TOTAL_BACKLOG = 64 * 1024 * 1024;
/**
 * Memory a queued frame holds beyond its bytes (Node's write request and buffer entries).
 * NOTE: a step record is ~200 bytes, and a queued one cost ~350 bytes of RSS on Node 20:
 * counted by bytes alone, 16 MB of small records held ~2x that.
 */
const FRAME_OVERHEAD_BYTES = 256;
/** Dashboards at once; one more is refused with TOO_MANY_VIEWERS (the load test runs 100). */
export const MAX_VIEWERS = 128;

/** A subscribed dashboard: its frames handed to ws and not yet written. */
interface Viewer {
  queued: number;
  /** ws's send callback (one per viewer, not one closure per frame). */
  readonly written: () => void;
}

/** What the hub keeps in memory. */
export const METRICS_MEMORY = {
  /** The newest steps, every one (the dashboard's live charts zoom into these). */
  recentSteps: 2_000,
  /** Older steps, thinned: every `stride`-th step, the stride doubling when they exceed this. */
  olderSteps: 2_000,
  /** The newest events (joins, leaves, deadline misses, ...). */
  events: 1_000,
  /** The newest steps' timing records (the dashboard's timeline shows recent steps; trace.jsonl has them all). */
  timings: 120,
} as const;

export interface MetricsEvents {
  record: [MetricsRecord];
}

export class MetricsHub extends EventEmitter<MetricsEvents> {
  run: RunRecord | null = null;
  readonly epochs: EpochRecord[] = [];
  test: TestRecord | null = null;
  workers: readonly WorkerRow[] = [];
  readonly events: EventRecord[] = [];
  /** The newest timing records, oldest first (at most METRICS_MEMORY.timings, up to twice that between trims). */
  private timingRecords: TimingRecord[] = [];
  end: EndRecord | null = null;
  /** The images of every step stored so far (restored ones included): the CLI's summary counts from it. */
  stepImages = 0;
  /** The newest steps; between recentSteps and twice that many (moved to olderSteps in halves). */
  private recentSteps: StepRecord[] = [];
  /** Steps before those, every `olderStride`-th (by step number). */
  private olderSteps: StepRecord[] = [];
  private olderStride = 1;
  private readonly dashboards = new Map<WebSocket, Viewer>();
  /** Step records' frames waiting for the end of the current turn (see publish). */
  private readonly pending: Uint8Array[] = [];

  /** The steps kept in memory, oldest first (thinned before the newest METRICS_MEMORY.recentSteps). */
  get steps(): StepRecord[] {
    return [...this.olderSteps, ...this.recentSteps];
  }

  /** The newest steps' timing records, oldest first. */
  get timings(): TimingRecord[] {
    return this.timingRecords.slice(-METRICS_MEMORY.timings);
  }

  get lastStep(): StepRecord | undefined {
    return this.recentSteps.at(-1);
  }

  /**
   * Restores the records of a resumed run (from history.jsonl), without re-emitting them. The
   * run and end records are left out: the resumed run publishes its own, and has not ended.
   */
  restore(records: readonly MetricsRecord[]): void {
    for (const record of records) if (record.kind !== 'run' && record.kind !== 'end') this.store(record);
  }

  publish(record: MetricsRecord): void {
    this.store(record);
    this.emit('record', record);
    if (this.dashboards.size === 0) return;
    this.pending.push(encodeMessage({ type: 'metrics', record }));
    // NOTE: a step (or timing) record goes out after the current turn, once the next step's slices are
    // sent, so the viewers are served while the workers compute instead of on the step's
    // path (bench/load.ts measures the cost). Any other record sends everything pending
    // first, in order, so nothing is left behind at the end.
    if (record.kind !== 'step' && record.kind !== 'timing') return this.flush();
    if (this.pending.length === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    for (const frame of this.pending.splice(0)) for (const [socket, viewer] of this.dashboards) this.sendTo(socket, viewer, frame);
    this.limitTotalBacklog();
  }

  snapshot(): SnapshotMessage {
    return {
      type: 'snapshot',
      run: this.run,
      steps: this.steps,
      epochs: this.epochs,
      test: this.test,
      workers: this.workers,
      events: this.events,
      end: this.end,
      timings: this.timings,
    };
  }

  /** A dashboard connection that has subscribed: it gets the snapshot now, then every record (beyond MAX_VIEWERS it is refused). */
  addDashboard(socket: WebSocket): void {
    if (this.dashboards.size >= MAX_VIEWERS) {
      const message = `more than ${MAX_VIEWERS} dashboards are open on this run; close one and reload`;
      if (socket.readyState === WebSocket.OPEN) socket.send(encodeMessage({ type: 'error', code: 'TOO_MANY_VIEWERS', message, fatal: true }), { binary: true });
      // 1013: "try again later".
      socket.close(1013, 'TOO_MANY_VIEWERS');
      setTimeout(() => socket.terminate(), 1_000).unref();
      return;
    }
    // NOTE: pending records are in the snapshot already: send them to the others first.
    this.flush();
    const viewer: Viewer = { queued: 0, written: () => void viewer.queued-- };
    this.dashboards.set(socket, viewer);
    socket.once('close', () => this.dashboards.delete(socket));
    this.sendTo(socket, viewer, encodeMessage(this.snapshot()));
  }

  /** Bytes a dashboard's unsent frames hold (see MAX_DASHBOARD_BACKLOG). */
  private static backlog(socket: WebSocket, viewer: Viewer): number {
    return socket.bufferedAmount + viewer.queued * FRAME_OVERHEAD_BYTES;
  }

  private sendTo(socket: WebSocket, viewer: Viewer, frame: Uint8Array): void {
    if (socket.readyState !== WebSocket.OPEN) return;
    if (MetricsHub.backlog(socket, viewer) > MAX_DASHBOARD_BACKLOG) return this.drop(socket);
    viewer.queued++;
    socket.send(frame, { binary: true }, viewer.written);
  }

  /** Drops the dashboards furthest behind while all backlogs together pass MAX_TOTAL_BACKLOG. */
  private limitTotalBacklog(): void {
    let total = 0;
    let furthest: WebSocket | null = null;
    let furthestBacklog = 0;
    for (const [socket, viewer] of this.dashboards) {
      const backlog = MetricsHub.backlog(socket, viewer);
      total += backlog;
      if (backlog > furthestBacklog) [furthest, furthestBacklog] = [socket, backlog];
    }
    if (total <= MAX_TOTAL_BACKLOG || furthest === null) return;
    this.drop(furthest);
    this.limitTotalBacklog();
  }

  /** Frees what a dashboard holds now: terminate discards its queued frames (it reconnects and gets a snapshot). */
  private drop(socket: WebSocket): void {
    this.dashboards.delete(socket);
    socket.terminate();
  }

  private store(record: MetricsRecord): void {
    switch (record.kind) {
      case 'run':
        this.run = record;
        break;
      case 'step':
        this.storeStep(record);
        break;
      case 'epoch':
        this.epochs.push(record);
        break;
      case 'test':
        this.test = record;
        break;
      case 'workers':
        this.workers = record.workers;
        break;
      case 'event':
        this.events.push(record);
        if (this.events.length > METRICS_MEMORY.events) this.events.shift();
        break;
      case 'end':
        this.end = record;
        break;
      case 'timing':
        this.timingRecords.push(record);
        // Trimmed in halves: constant cost per step.
        if (this.timingRecords.length >= 2 * METRICS_MEMORY.timings) this.timingRecords = this.timingRecords.slice(-METRICS_MEMORY.timings);
        break;
      default: {
        const unknown: never = record;
        throw new Error(`unknown record kind ${(unknown as { kind: string }).kind}`);
      }
    }
  }

  private storeStep(record: StepRecord): void {
    this.stepImages += record.images;
    const previous = this.recentSteps.length - 1;
    const before = this.recentSteps[previous];
    if (before?.links !== undefined) {
      const { links: _dropped, ...rest } = before;
      this.recentSteps[previous] = rest;
    }
    this.recentSteps.push(record);
    const { recentSteps, olderSteps } = METRICS_MEMORY;
    if (this.recentSteps.length < 2 * recentSteps) return;
    // NOTE: moved in halves, so the cost per step stays constant (no shift() per step).
    const moved = this.recentSteps.splice(0, recentSteps);
    for (const step of moved) if (step.step % this.olderStride === 0) this.olderSteps.push(step);
    while (this.olderSteps.length > olderSteps) {
      this.olderStride *= 2;
      this.olderSteps = this.olderSteps.filter((step) => step.step % this.olderStride === 0);
    }
  }
}

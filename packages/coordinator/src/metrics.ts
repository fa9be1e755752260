/**
 * The run's metrics: every record the trainer and the server publish is kept (so a
 * dashboard that connects mid-run gets a `snapshot` of everything so far), emitted as a
 * 'record' event (for in-process listeners such as the CLI's progress bar or
 * packages/dashboard), and pushed to subscribed dashboard sockets as `metrics` messages.
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
  type WorkerRow,
} from '@convoy/core';
import { WebSocket } from 'ws';

/** A dashboard that lets this much pile up unsent is too slow: it is dropped (it reconnects and gets a snapshot). */
const MAX_DASHBOARD_BACKLOG = 16 * 1024 * 1024;

export interface MetricsEvents {
  record: [MetricsRecord];
}

export class MetricsHub extends EventEmitter<MetricsEvents> {
  run: RunRecord | null = null;
  readonly steps: StepRecord[] = [];
  readonly epochs: EpochRecord[] = [];
  test: TestRecord | null = null;
  workers: readonly WorkerRow[] = [];
  readonly events: EventRecord[] = [];
  end: EndRecord | null = null;
  private readonly dashboards = new Set<WebSocket>();
  /** Step records' frames waiting for the end of the current turn (see publish). */
  private readonly pending: Uint8Array[] = [];

  /** Restores the records of a resumed run (from its checkpoint), without re-emitting them. */
  restore(records: readonly MetricsRecord[]): void {
    for (const record of records) this.store(record);
  }

  publish(record: MetricsRecord): void {
    this.store(record);
    this.emit('record', record);
    if (this.dashboards.size === 0) return;
    this.pending.push(encodeMessage({ type: 'metrics', record }));
    // NOTE: a step record goes out after the current turn, once the next step's slices are
    // sent, so the viewers are served while the workers compute instead of on the step's
    // path (bench/load.ts measures the cost). Any other record sends everything pending
    // first, in order, so nothing is left behind at the end.
    if (record.kind !== 'step') return this.flush();
    if (this.pending.length === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    for (const frame of this.pending.splice(0)) for (const socket of this.dashboards) this.sendTo(socket, frame);
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
    };
  }

  /** What a checkpoint keeps of the run so far: steps, epochs, events and the test, by time. */
  history(): MetricsRecord[] {
    return [...this.steps, ...this.epochs, ...this.events, ...(this.test ? [this.test] : [])].sort((a, b) => a.time - b.time);
  }

  /** A dashboard connection that has subscribed: it gets the snapshot now, then every record. */
  addDashboard(socket: WebSocket): void {
    // NOTE: pending records are in the snapshot already: send them to the others first.
    this.flush();
    this.dashboards.add(socket);
    socket.once('close', () => this.dashboards.delete(socket));
    this.sendTo(socket, encodeMessage(this.snapshot()));
  }

  private sendTo(socket: WebSocket, frame: Uint8Array): void {
    if (socket.readyState !== WebSocket.OPEN) return;
    if (socket.bufferedAmount > MAX_DASHBOARD_BACKLOG) {
      socket.terminate();
      return;
    }
    socket.send(frame, { binary: true });
  }

  private store(record: MetricsRecord): void {
    switch (record.kind) {
      case 'run':
        this.run = record;
        break;
      case 'step':
        this.steps.push(record);
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
        break;
      case 'end':
        this.end = record;
        break;
      default: {
        const unknown: never = record;
        throw new Error(`unknown record kind ${(unknown as { kind: string }).kind}`);
      }
    }
  }
}

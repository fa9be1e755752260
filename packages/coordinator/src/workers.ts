/**
 * The worker table: joins what the transport says about connections to the scheduler's
 * WorkerPeers. It keeps the rows dashboards see (and how often they get them), publishes
 * join/death/leave events, and lets the trainer wait for enough workers. It writes no
 * work state itself: joins and departures go through the Scheduler.
 */
import { clipDetail, type EvaluationMessage, type GradientMessage, type HelloMessage, type Message, type MetricsRecord, type RunEventName } from '@convoy/core';
import type { WebSocket } from 'ws';
import type { ServerOptions } from './defaults.js';
import { WorkerPeer } from './peers.js';
import { Scheduler, type SchedulerHost } from './scheduler.js';
import type { Connection, TransportHandlers } from './connection.js';

/** Workers table updates go to dashboards at most this often (plus on every state change). */
const WORKERS_RECORD_INTERVAL_MS = 1_000;
const GONE_ROWS_KEPT = 32;

export interface WorkerTableSetup {
  readonly timing: ServerOptions;
  /** Sends a message on a worker's connection (the transport's send). */
  readonly send: (connection: Connection, message: Message | Uint8Array) => void;
  readonly publish: (record: MetricsRecord) => void;
  /** A dashboard subscribed (MetricsHub.addDashboard). */
  readonly viewer: (socket: WebSocket) => void;
  /** The step in progress, for event records. */
  readonly currentStep: () => number;
}

interface Entry {
  readonly peer: WorkerPeer;
  readonly connection: Connection;
}

export class WorkerTable implements TransportHandlers, SchedulerHost {
  readonly scheduler: Scheduler;
  /** By worker id, in join order. */
  private readonly entries = new Map<number, Entry>();
  private readonly waiters: (() => void)[] = [];
  private workersTimer: NodeJS.Timeout | null = null;
  private changeTimer: NodeJS.Timeout | null = null;
  /** When the last workers record went out (Date.now()). */
  private lastWorkersRecord = 0;

  constructor(private readonly setup: WorkerTableSetup) {
    this.scheduler = new Scheduler(this, setup.timing);
  }

  /** Starts the periodic workers record (heartbeat ages move even when nothing changes). */
  start(): void {
    this.workersTimer = setInterval(() => Date.now() - this.lastWorkersRecord >= WORKERS_RECORD_INTERVAL_MS / 2 && this.publishWorkers(), WORKERS_RECORD_INTERVAL_MS);
  }

  /** Stops the timers and publishes the final table. */
  close(): void {
    if (this.workersTimer !== null) clearInterval(this.workersTimer);
    if (this.changeTimer !== null) clearTimeout(this.changeTimer);
    this.publishWorkers();
  }

  /** Live workers (idle or computing). */
  liveCount(): number {
    let count = 0;
    for (const { peer } of this.entries.values()) if (peer.live) count++;
    return count;
  }

  /** Resolves when at least `count` workers are live. */
  async waitForWorkers(count: number): Promise<void> {
    while (this.liveCount() < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  // ------------------------------------------------------------- TransportHandlers

  joined(connection: Connection, hello: HelloMessage): void {
    const peer = new WorkerPeer(connection.workerId, hello.name, connection.address, hello.kernels, connection, hello.threads, hello.runtime);
    this.entries.set(peer.id, { peer, connection });
    this.event('join', peer, `${hello.name} at ${connection.address}${hello.datasetHash === null ? ' (dataset sent)' : ''}`);
    this.scheduler.join(peer);
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  answer(connection: Connection, answer: GradientMessage | EvaluationMessage): string | null {
    const entry = this.entries.get(connection.workerId);
    if (entry === undefined) return 'not a worker';
    return this.scheduler.answer(entry.peer, answer);
  }

  rejected(connection: Connection): void {
    const entry = this.entries.get(connection.workerId);
    if (entry !== undefined) this.scheduler.rejected(entry.peer);
  }

  gone(connection: Connection, event: 'death' | 'leave', detail: string): void {
    const peer = this.entries.get(connection.workerId)?.peer;
    if (peer === undefined || peer.state === 'gone') return;
    const owed = peer.owed;
    this.event(event, peer, owed > 0 ? `${detail}; its slice of ${owed} images goes to the others` : detail);
    this.scheduler.lost(peer);
    this.forgetOldPeers();
  }

  viewer(socket: WebSocket): void {
    this.setup.viewer(socket);
  }

  // ------------------------------------------------------------- SchedulerHost

  *workers(): Iterable<WorkerPeer> {
    for (const { peer } of this.entries.values()) yield peer;
  }

  send(peer: WorkerPeer, message: Message | Uint8Array): void {
    const entry = this.entries.get(peer.id);
    if (entry !== undefined) this.setup.send(entry.connection, message);
  }

  event(event: RunEventName, peer: WorkerPeer | null, detail: string): void {
    // The detail often quotes a worker (its name, reason, error text): cut here, where the
    // event is made, to what every dashboard's parser accepts.
    this.setup.publish({ kind: 'event', event, step: this.setup.currentStep(), workerId: peer?.id ?? null, detail: clipDetail(detail), time: Date.now() });
  }

  /** Batches table updates: many changes within a quarter second make one record. */
  changed(): void {
    if (this.changeTimer !== null) return;
    // NOTE: at most about one record a second: 32 workers change state twice a step, and each
    // record goes to every viewer (bench/load.ts measures the cost).
    const wait = Math.max(250, WORKERS_RECORD_INTERVAL_MS - (Date.now() - this.lastWorkersRecord));
    this.changeTimer = setTimeout(() => {
      this.changeTimer = null;
      this.publishWorkers();
    }, wait);
  }

  /** Keeps the rows of the last GONE_ROWS_KEPT departed workers on the dashboard, not every one ever seen. */
  private forgetOldPeers(): void {
    const gone = [...this.entries.values()].filter(({ peer }) => peer.state === 'gone');
    for (const { peer } of gone.slice(0, Math.max(0, gone.length - GONE_ROWS_KEPT))) this.entries.delete(peer.id);
  }

  private publishWorkers(): void {
    const now = Date.now();
    this.lastWorkersRecord = now;
    const rows = [...this.entries.values()].map(({ peer }) => peer.row(now));
    this.setup.publish({ kind: 'workers', workers: rows, time: now });
  }
}

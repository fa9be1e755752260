/**
 * An in-memory stand-in for the transport, for unit tests of the worker table, scheduler
 * and trainer without sockets: fake worker connections whose messages queue up in `inbox`,
 * answered when and in the order the test says (or automatically, the last worker sent to first).
 *
 * A fake worker's gradient for image x is contribution(x, j) at parameter j: small integers,
 * so sums are exact in float32 and a test can compute the expected update independently.
 */
import type { EvaluateMessage, EvaluationMessage, GradientMessage, Message, MetricsRecord, StepMessage } from '@convoy/core';
import type { WebSocket } from 'ws';
import type { ServerOptions } from './defaults.js';
import { MetricsHub } from './metrics.js';
import { Connection } from './connection.js';
import { WorkerTable } from './workers.js';

export interface Sent {
  readonly connection: Connection;
  readonly message: StepMessage | EvaluateMessage;
}

/** A fake worker's gradient contribution of image `index` at parameter `j`. */
export function contribution(index: number, j: number): number {
  return ((index * 7 + j * 3) % 11) - 5;
}

export class MemoryNetwork {
  readonly metrics = new MetricsHub();
  readonly table: WorkerTable;
  readonly inbox: Sent[] = [];
  /** Every step and evaluate message sent, in order. */
  readonly log: Sent[] = [];
  /** Frames sent already encoded (replica runs' updates), in order. */
  readonly updates: { readonly connection: Connection; readonly frame: Uint8Array }[] = [];
  /** Answer every message automatically (after the current turn, last sent first). */
  auto = false;
  /** Makes an automatic answer wrong (e.g. a wrong count), for failure tests. */
  corrupt: ((answer: GradientMessage | EvaluationMessage) => GradientMessage | EvaluationMessage) | null = null;
  private nextId = 1;
  private flushQueued = false;

  constructor(
    timing: ServerOptions,
    private readonly paramCount: number,
    currentStep: () => number = () => 0,
  ) {
    this.table = new WorkerTable({
      timing,
      send: (connection, message) => this.receive(connection, message),
      publish: (record: MetricsRecord) => this.metrics.publish(record),
      viewer: () => undefined,
      currentStep,
    });
  }

  /** A worker that has passed the handshake (as the transport would report it). */
  join(name = `memory-${this.nextId}`): Connection {
    const connection = new Connection({} as WebSocket, `memory:${this.nextId}`);
    connection.state = 'worker';
    connection.workerId = this.nextId++;
    this.table.joined(connection, { type: 'hello', protocol: 1, name, datasetHash: 'memory', kernels: 'ts' });
    return connection;
  }

  /** The worker's connection dropped. */
  lose(connection: Connection): void {
    connection.state = 'closed';
    this.table.gone(connection, 'death', 'connection closed');
  }

  /** Takes every queued message, oldest first. */
  take(): Sent[] {
    return this.inbox.splice(0);
  }

  /** Answers one message as an honest worker would; returns the scheduler's complaint, if any. */
  answer(sent: Sent): string | null {
    return this.table.answer(sent.connection, this.answerTo(sent.message));
  }

  answerTo(message: StepMessage | EvaluateMessage): GradientMessage | EvaluationMessage {
    const count = message.indices.length;
    let lossSum = 0;
    let correct = 0;
    for (const index of message.indices) {
      lossSum += index % 5;
      if (index % 2 === 0) correct++;
    }
    if (message.type === 'evaluate') {
      // Image x is predicted as class x % 3 (labels of memoryDataset are x % 3 except every fifth).
      const predictions = Uint8Array.from(message.indices, (index) => index % 3);
      return { type: 'evaluation', round: message.round, count, lossSum, correct, predictions, computeMs: 1 };
    }
    const gradient = new Float32Array(this.paramCount);
    for (const index of message.indices) for (let j = 0; j < gradient.length; j++) gradient[j] = gradient[j]! + contribution(index, j);
    return { type: 'gradient', step: message.step, round: message.round, count, lossSum, correct, gradient, computeMs: 1, decodeMs: 0 };
  }

  private receive(connection: Connection, message: Message | Uint8Array): void {
    if (message instanceof Uint8Array) {
      this.updates.push({ connection, frame: message });
      return;
    }
    if (message.type !== 'step' && message.type !== 'evaluate') throw new Error(`the scheduler sent a ${message.type}`);
    this.inbox.push({ connection, message });
    this.log.push({ connection, message });
    if (this.auto && !this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => this.flush());
    }
  }

  /** Answers what is queued: the last worker sent to first, each worker's messages in the order it got them (--overlap queues two). */
  private flush(): void {
    this.flushQueued = false;
    const byWorker = new Map<Connection, Sent[]>();
    for (const sent of this.take().reverse()) byWorker.set(sent.connection, [sent, ...(byWorker.get(sent.connection) ?? [])]);
    for (const sent of [...byWorker.values()].flat()) {
      if (sent.connection.state !== 'worker') continue;
      const answer = this.answerTo(sent.message);
      this.table.answer(sent.connection, this.corrupt === null ? answer : this.corrupt(answer));
    }
  }
}

/**
 * A worker's compute threads (worker_threads), started when the worker starts: each loads
 * its code and selects its kernels, and the worker connects once they are up, so starting
 * them (seconds on a busy machine) is not counted in its first slice (the coordinator
 * would take it for a slow worker). Engines (threaded-engine.ts) give the
 * threads their model and their jobs; the worker closes the threads when it ends.
 *
 * A thread that throws answers its job with a failure; a thread that dies (or cannot
 * start) fails the pool: every pending and later request is rejected with a
 * THREAD_FAILED WorkerError, so nothing waits forever.
 */
import { Worker as Thread } from 'node:worker_threads';
import type { KernelsChoice } from '@convoy/core';
import { WorkerError } from '../errors.js';
import type { FromThread, ThreadSetup, ToThread } from './messages.js';

const THREAD_ENTRY = new URL('./thread-entry.mjs', import.meta.url);

export interface ComputeThreadsOptions {
  readonly threads: number;
  /** Each thread selects its own backend by this name (selectKernels). */
  readonly kernels: KernelsChoice;
  /** Fault injection: the last thread exits instead of computing this step. */
  readonly exitAtStep?: number;
}

/** One thread and the jobs it has not answered yet. */
class ComputeThread {
  readonly started: Promise<void>;
  private readonly thread: Thread;
  private readonly pending = new Map<number, { resolve: (reply: FromThread) => void; reject: (error: Error) => void }>();
  private markStarted!: () => void;
  private closing = false;

  constructor(
    readonly number: number,
    setup: ThreadSetup,
    private readonly failed: (reason: string) => void,
  ) {
    this.started = new Promise((resolve) => (this.markStarted = resolve));
    this.thread = new Thread(THREAD_ENTRY, { workerData: setup });
    // The worker's socket keeps the process alive; a thread must not keep an ended worker from exiting.
    this.thread.unref();
    this.thread.on('message', (reply: FromThread) => this.answered(reply));
    this.thread.on('error', (error) => this.closing || this.failed(`compute thread ${number} failed: ${error.message}`));
    this.thread.on('exit', (code) => this.closing || this.failed(`compute thread ${number} exited (code ${code})`));
  }

  request(job: ToThread): Promise<FromThread> {
    return new Promise((resolve, reject) => {
      this.pending.set(job.job, { resolve, reject });
      this.thread.postMessage(job);
    });
  }

  rejectAll(error: WorkerError): void {
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }

  async close(): Promise<void> {
    this.closing = true;
    this.rejectAll(new WorkerError('THREAD_FAILED', 'the compute threads were closed'));
    await this.thread.terminate();
  }

  private answered(reply: FromThread): void {
    if (reply.kind === 'started') return this.markStarted();
    const waiting = this.pending.get(reply.job);
    if (waiting === undefined) return;
    this.pending.delete(reply.job);
    if (reply.kind === 'failed') waiting.reject(Object.assign(new Error(`compute thread ${this.number}: ${reply.message}`), { code: reply.code }));
    else waiting.resolve(reply);
  }
}

export class ComputeThreads {
  /** Resolves once every thread has loaded and selected its kernels; rejects if one fails first. */
  readonly ready: Promise<void>;
  private readonly threads: ComputeThread[] = [];
  private failure: WorkerError | null = null;
  private failReady!: (error: WorkerError) => void;
  private closed = false;
  private lastJob = 0;

  constructor(readonly options: ComputeThreadsOptions) {
    const { threads, kernels, exitAtStep } = options;
    if (!Number.isSafeInteger(threads) || threads < 1) throw new WorkerError('BAD_OPTION', `--threads must be an integer >= 1, got ${threads}`);
    const failedReady = new Promise<never>((_, reject) => (this.failReady = reject));
    for (let index = 0; index < threads; index++) {
      const crash = exitAtStep !== undefined && index === threads - 1 ? { exitAtStep } : {};
      this.threads.push(new ComputeThread(index + 1, { index, kernels, ...crash }, (reason) => this.fail(reason)));
    }
    this.ready = Promise.race([Promise.all(this.threads.map((thread) => thread.started)).then(() => undefined), failedReady]);
    // Nobody may be waiting for `ready` when a thread fails: the failure is kept for later requests.
    this.ready.catch(() => undefined);
  }

  get count(): number {
    return this.threads.length;
  }

  /** A fresh job number: answers are matched to jobs by it. */
  nextJob(): number {
    return ++this.lastJob;
  }

  /** Thread `index` (0-based) does `job`. */
  request(index: number, job: ToThread): Promise<FromThread> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new WorkerError('THREAD_FAILED', 'the compute threads were closed'));
    const thread = this.threads[index];
    if (thread === undefined) return Promise.reject(new RangeError(`no compute thread ${index + 1} of ${this.threads.length}`));
    return thread.request(job);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.threads.map((thread) => thread.close()));
  }

  /** A thread died or could not start: fail what is pending and everything after (threads are not restarted: the worker exits). */
  private fail(reason: string): void {
    if (this.closed || this.failure !== null) return;
    this.failure = new WorkerError('THREAD_FAILED', reason);
    this.failReady(this.failure);
    for (const thread of this.threads) thread.rejectAll(this.failure);
  }
}

/**
 * A worker's compute on N threads (worker_threads): each thread runs its own ComputeEngine
 * (own kernels instance, own model) over the worker's datasets in shared memory. A slice is
 * cut into N contiguous parts (thread k takes part k); the gradients are added in part
 * order (parts.ts), so the answer does not depend on which thread finished first; and one
 * gradient goes to the coordinator. Evaluation slices are cut and joined the same way.
 *
 * Memory shared between the threads: the datasets (shareData), the parameters (written
 * here when a message carries them, copied by each thread before its next job), and one
 * gradient buffer per thread. Jobs run one at a time (queued), so the main thread never
 * writes the parameters while a thread reads them.
 *
 * A thread that throws, or dies, fails the job in progress and every later one with a
 * THREAD_FAILED WorkerError: the worker reports it and exits, it never waits forever.
 */
import { Worker as Thread } from 'node:worker_threads';
import {
  buildLayers,
  type EvaluateMessage,
  type EvaluationMessage,
  type GradientMessage,
  type KernelsChoice,
  type ModelSpec,
  type StepMessage,
} from '@convoy/core';
import { checkModelFits, type Engine, type WorkerData } from '../compute.js';
import { WorkerError } from '../errors.js';
import type { FromThread, ThreadSetup, ToThread } from './messages.js';
import { contiguousParts, sumInOrder, type Part } from './parts.js';
import { sharedHandles } from './shared-data.js';

const THREAD_ENTRY = new URL('./thread-entry.mjs', import.meta.url);

export interface ThreadedEngineOptions {
  /** Compute threads, >= 1 (the worker uses ComputeEngine itself for 1: no thread hop). */
  readonly threads: number;
  /** Each thread selects its own backend by this name (selectKernels). */
  readonly kernels: KernelsChoice;
  /** Fault injection: the last thread exits instead of computing this step. */
  readonly crashThreadAtStep?: number;
}

/** One compute thread and the jobs it has not answered yet. */
class ComputeThread {
  private readonly thread: Thread;
  private readonly pending = new Map<number, { resolve: (reply: FromThread) => void; reject: (error: Error) => void }>();
  private failure: WorkerError | null = null;
  private closing = false;

  constructor(
    readonly number: number,
    setup: ThreadSetup,
    private readonly failed: (error: WorkerError) => void,
  ) {
    this.thread = new Thread(THREAD_ENTRY, { workerData: setup });
    // The worker's socket keeps the process alive; a thread must not keep an ended worker from exiting.
    this.thread.unref();
    this.thread.on('message', (reply: FromThread) => this.answered(reply));
    this.thread.on('error', (error) => this.fail(`compute thread ${number} failed: ${error.message}`));
    this.thread.on('exit', (code) => this.fail(`compute thread ${number} exited (code ${code})`));
  }

  request(job: ToThread): Promise<FromThread> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(job.job, { resolve, reject });
      this.thread.postMessage(job);
    });
  }

  /** Fails what is pending and everything after (a thread is not restarted: its worker exits). */
  fail(reason: string): void {
    if (this.closing || this.failure !== null) return;
    this.failure = new WorkerError('THREAD_FAILED', reason);
    for (const { reject } of this.pending.values()) reject(this.failure);
    this.pending.clear();
    this.failed(this.failure);
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const { reject } of this.pending.values()) reject(new WorkerError('THREAD_FAILED', 'the compute threads were closed'));
    this.pending.clear();
    await this.thread.terminate();
  }

  private answered(reply: FromThread): void {
    const waiting = this.pending.get(reply.job);
    if (waiting === undefined) return;
    this.pending.delete(reply.job);
    if (reply.kind === 'failed') waiting.reject(Object.assign(new Error(`compute thread ${this.number}: ${reply.message}`), { code: reply.code }));
    else waiting.resolve(reply);
  }
}

export class ThreadedEngine implements Engine {
  private readonly threads: ComputeThread[];
  /** The parameters every thread copies from (paramCount float32 in shared memory). */
  private readonly params: Float32Array;
  /** Thread k's gradient sum of its part of the last step. */
  private readonly threadGradients: Float32Array[];
  /** The summed gradient of the last step (the answer's live view). */
  private readonly gradient: Float32Array;
  /** Number of optimizer updates the parameters reflect; -1 before the first parameters arrive. */
  private version = -1;
  /** Counts writes of `params`: a thread holding another load copies them. */
  private load = 0;
  private nextJob = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private failure: WorkerError | null = null;
  private closed = false;

  constructor(
    readonly spec: ModelSpec,
    paramCount: number,
    data: WorkerData,
    options: ThreadedEngineOptions,
  ) {
    if (!Number.isSafeInteger(options.threads) || options.threads < 1) throw new WorkerError('BAD_OPTION', `--threads must be an integer >= 1, got ${options.threads}`);
    // The same checks as ComputeEngine's, here before any thread starts (the spec alone: no kernels, no buffers).
    checkModelFits(buildLayers(spec), paramCount, data);
    const handles = sharedHandles(data);
    const paramsBuffer = new SharedArrayBuffer(paramCount * Float32Array.BYTES_PER_ELEMENT);
    this.params = new Float32Array(paramsBuffer);
    this.gradient = new Float32Array(paramCount);
    this.threadGradients = [];
    this.threads = [];
    for (let index = 0; index < options.threads; index++) {
      const gradientBuffer = new SharedArrayBuffer(paramCount * Float32Array.BYTES_PER_ELEMENT);
      this.threadGradients.push(new Float32Array(gradientBuffer));
      const crash = options.crashThreadAtStep !== undefined && index === options.threads - 1 ? { exitAtStep: options.crashThreadAtStep } : {};
      const setup: ThreadSetup = { index, spec, paramCount, kernels: options.kernels, data: handles, params: paramsBuffer, gradient: gradientBuffer, ...crash };
      this.threads.push(new ComputeThread(index + 1, setup, (error) => (this.failure ??= error)));
    }
  }

  get threadCount(): number {
    return this.threads.length;
  }

  step(message: StepMessage, decodeMs: number): Promise<GradientMessage> {
    return this.enqueue(async () => {
      this.useParameters(message.version, message.params);
      const started = performance.now();
      const { indices, dropoutSeeds } = message;
      const parts = contiguousParts(indices.length, this.threads.length);
      const job = this.nextJob++;
      const replies = await this.onParts(parts, (part) => ({
        kind: 'step',
        job,
        step: message.step,
        round: message.round,
        epoch: message.epoch,
        load: this.load,
        // slice, not subarray: a posted view would carry its whole buffer.
        indices: indices.slice(part.start, part.end),
        dropoutSeeds: dropoutSeeds.slice(part.start, part.end),
      }));
      let lossSum = 0;
      let correct = 0;
      for (const reply of replies) {
        if (reply.kind !== 'stepped') throw new WorkerError('THREAD_FAILED', `a compute thread answered a step with ${reply.kind}`);
        lossSum += reply.lossSum;
        correct += reply.correct;
      }
      sumInOrder(this.gradient, this.threadGradients.slice(0, parts.length));
      return {
        type: 'gradient',
        step: message.step,
        round: message.round,
        count: indices.length,
        lossSum,
        correct,
        gradient: this.gradient,
        computeMs: performance.now() - started,
        decodeMs,
      };
    });
  }

  evaluate(message: EvaluateMessage): Promise<EvaluationMessage> {
    return this.enqueue(async () => {
      this.useParameters(message.version, message.params);
      const started = performance.now();
      const { indices } = message;
      const parts = contiguousParts(indices.length, this.threads.length);
      const job = this.nextJob++;
      const replies = await this.onParts(parts, (part) => ({
        kind: 'evaluate',
        job,
        round: message.round,
        split: message.split,
        load: this.load,
        indices: indices.slice(part.start, part.end),
      }));
      const predictions = new Uint8Array(indices.length);
      let lossSum = 0;
      let correct = 0;
      for (const [k, reply] of replies.entries()) {
        if (reply.kind !== 'evaluated') throw new WorkerError('THREAD_FAILED', `a compute thread answered an evaluation with ${reply.kind}`);
        predictions.set(reply.predictions, parts[k]!.start);
        lossSum += reply.lossSum;
        correct += reply.correct;
      }
      return { type: 'evaluation', round: message.round, count: indices.length, lossSum, correct, predictions, computeMs: performance.now() - started };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.threads.map((thread) => thread.close()));
  }

  /** Runs `job` after the jobs before it (one at a time: see the header). */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed) throw new WorkerError('THREAD_FAILED', 'the compute threads were closed');
      if (this.failure !== null) throw this.failure;
      return job();
    };
    const result = this.queue.then(run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Thread k computes parts[k]; waits for all of them (never leaves one running) and fails with the first failure in part order. */
  private async onParts(parts: readonly Part[], jobOf: (part: Part) => ToThread): Promise<FromThread[]> {
    const settled = await Promise.allSettled(parts.map((part, k) => this.threads[k]!.request(jobOf(part))));
    const replies: FromThread[] = [];
    for (const outcome of settled) {
      if (outcome.status === 'rejected') throw outcome.reason;
      replies.push(outcome.value);
    }
    return replies;
  }

  private useParameters(version: number, params: Float32Array | undefined): void {
    if (params !== undefined) {
      this.params.set(params);
      this.version = version;
      this.load++;
    } else if (version !== this.version) {
      throw new WorkerError('STALE_PARAMETERS', `asked to use parameters version ${version}, holding ${this.version}`);
    }
  }
}

/**
 * A worker's compute on its N compute threads (pool.ts): each thread runs its own
 * ComputeEngine (own kernels instance, own model) over the worker's datasets in shared
 * memory. A slice is cut into N contiguous parts (thread k takes part k); the gradients are
 * added in part order (parts.ts), so the answer does not depend on which thread finished
 * first; and one gradient goes to the coordinator. Evaluation slices are cut and joined
 * the same way.
 *
 * Memory shared with the threads: the datasets (shareData), the parameters (written here
 * when a message carries them, copied by each thread before its next job), and one
 * gradient buffer per thread. Jobs run one at a time (queued), so the main thread never
 * writes the parameters while a thread reads them.
 *
 * A failure in a thread fails the job with the thread's error (its code kept); a thread
 * that dies fails this job and every later one with THREAD_FAILED (pool.ts).
 */
import {
  buildLayers,
  type EvaluateMessage,
  type EvaluationMessage,
  type GradientMessage,
  type ModelSpec,
  type StepMessage,
} from '@convoy/core';
import { checkModelFits, type Engine, type WorkerData } from '../compute.js';
import { WorkerError } from '../errors.js';
import type { FromThread, ToThread } from './messages.js';
import { contiguousParts, sumInOrder, type Part } from './parts.js';
import type { ComputeThreads } from './pool.js';
import { sharedHandles } from './shared-data.js';

export class ThreadedEngine implements Engine {
  /** The parameters every thread copies from (paramCount float32 in shared memory). */
  private readonly params: Float32Array;
  /** Thread k's gradient sum of its part of the last step. */
  private readonly threadGradients: Float32Array[] = [];
  /** The summed gradient of the last step (the answer's live view). */
  private readonly gradient: Float32Array;
  /** Number of optimizer updates the parameters reflect; -1 before the first parameters arrive. */
  private version = -1;
  /** Counts writes of `params`: a thread holding another load copies them. */
  private load = 0;
  private queue: Promise<unknown>;
  private closed = false;

  /** `data` must be in shared memory (shareData); the threads build their models at once. */
  constructor(
    readonly spec: ModelSpec,
    paramCount: number,
    data: WorkerData,
    private readonly threads: ComputeThreads,
  ) {
    // The same checks as ComputeEngine's, here before the threads build anything (the spec alone: no kernels, no buffers).
    checkModelFits(buildLayers(spec), paramCount, data);
    const handles = sharedHandles(data);
    const bytes = paramCount * Float32Array.BYTES_PER_ELEMENT;
    const paramsBuffer = new SharedArrayBuffer(bytes);
    this.params = new Float32Array(paramsBuffer);
    this.gradient = new Float32Array(paramCount);
    const job = threads.nextJob();
    const models: Array<Promise<FromThread>> = [];
    for (let index = 0; index < threads.count; index++) {
      const gradientBuffer = new SharedArrayBuffer(bytes);
      this.threadGradients.push(new Float32Array(gradientBuffer));
      models.push(threads.request(index, { kind: 'model', job, spec, paramCount, data: handles, params: paramsBuffer, gradient: gradientBuffer }));
    }
    // The first job waits for every thread's model; a model that fails fails the jobs.
    this.queue = Promise.allSettled(models).then(firstFailure);
    // NOTE: handled here: a failed model with no job after it must not be an unhandled rejection (which ends the process).
    this.queue.catch(() => undefined);
  }

  step(message: StepMessage, decodeMs: number): Promise<GradientMessage> {
    return this.enqueue(async () => {
      this.useParameters(message.version, message.params);
      const started = performance.now();
      const { indices, dropoutSeeds } = message;
      const parts = contiguousParts(indices.length, this.threads.count);
      const job = this.threads.nextJob();
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
      const parts = contiguousParts(indices.length, this.threads.count);
      const job = this.threads.nextJob();
      const replies = await this.onParts(parts, (part) => ({ kind: 'evaluate', job, round: message.round, split: message.split, load: this.load, indices: indices.slice(part.start, part.end) }));
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

  /** Refuses later jobs; the threads stay (the worker's, for its next engine). */
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** Runs `job` after the jobs before it (one at a time: see the header). */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed) throw new WorkerError('THREAD_FAILED', 'this compute engine was closed');
      return job();
    };
    // A failed model fails every job; a failed job does not fail the next.
    const result = this.queue.then(run);
    this.queue = Promise.all([this.queue, result.catch(() => undefined)]);
    this.queue.catch(() => undefined);
    return result;
  }

  /** Thread k computes parts[k]; waits for all of them (never leaves one running) and fails with the first failure in part order. */
  private async onParts(parts: readonly Part[], jobOf: (part: Part) => ToThread): Promise<FromThread[]> {
    return firstFailure(await Promise.allSettled(parts.map((part, k) => this.threads.request(k, jobOf(part)))));
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

/** The values, or the first failure's reason thrown. */
function firstFailure<T>(outcomes: ReadonlyArray<PromiseSettledResult<T>>): T[] {
  return outcomes.map((outcome) => {
    if (outcome.status === 'rejected') throw outcome.reason;
    return outcome.value;
  });
}

/**
 * A worker's options and their defaults, declared once: the command line (cli.ts) and
 * programmatic users (tests, `convoy start`'s local workers) spread their choices over
 * WORKER_DEFAULTS.
 */
import { availableParallelism, hostname } from 'node:os';
import type { KernelsChoice } from '@convoy/core';

export interface WorkerOptions {
  /** ws://host:port of the coordinator. */
  readonly url: string;
  readonly token?: string;
  readonly name: string;
  /** Folder of the four MNIST IDX files; undefined = the bundled MNIST. */
  readonly dataDir?: string;
  /** false = ask the coordinator for the dataset instead of loading one. */
  readonly localData: boolean;
  readonly kernels: KernelsChoice;
  /** Compute threads, each with its own kernels (1: compute on the worker's own thread, no thread hop). */
  readonly threads: number;
  /** Give up (re)connecting after this long without a coordinator. */
  readonly retryForMs: number;
  /** A progress line (steps, images/s) at most this often while working; 0 = none (local workers). */
  readonly progressEveryMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** Largest frame accepted from the coordinator (the dataset message is ~55 MB). */
  readonly maxPayload: number;
  /** Test and demo fault injection: block this long before answering each step (a slow machine). */
  readonly stepDelayMs: number;
  /** Test and demo fault injection, e.g. "kill@step20,pause@step40:5s" (chaos.ts). */
  readonly chaos: string;
  /** PEM file of a certificate (or CA) to trust for wss://, e.g. the coordinator's self-signed --tls-cert. */
  readonly tlsCa?: string;
  /** A file that exists exactly while joined (an orchestrator's readiness probe); undefined = none. */
  readonly readyFile?: string;
  /** Log lines go here (stderr by default). */
  readonly log: (line: string) => void;
}

export const WORKER_DEFAULTS: WorkerOptions = {
  url: 'ws://127.0.0.1:8080',
  name: `${hostname()}-${process.pid}`,
  localData: true,
  kernels: 'auto',
  // One worker per host, using all its cores.
  threads: availableParallelism(),
  // Long enough for a coordinator restarted with --resume to come back, short enough that
  // a typo in --connect ends with a message rather than minutes of silence.
  retryForMs: 60_000,
  progressEveryMs: 10_000,
  backoffInitialMs: 200,
  backoffMaxMs: 5_000,
  maxPayload: 256 * 1024 * 1024,
  stepDelayMs: 0,
  chaos: '',
  log: (line) => process.stderr.write(`${line}\n`),
};

/**
 * From what a user names on the command line (a run folder or a checkpoint file) to a
 * ready model. A run folder means its final model, or its newest checkpoint when the run
 * has not finished.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createModel, readCheckpoint, selectKernels, type Model, type ModelSpec } from '@convoy/core';
import { CliError, errorCode } from './errors.js';

export type KernelsOption = 'ts' | 'wasm' | 'auto';

export interface LoadedCheckpoint {
  /** The checkpoint file actually read. */
  readonly path: string;
  readonly spec: ModelSpec;
  readonly params: Float32Array;
}

// NOTE: these names must follow what the coordinator writes into a run folder.
const FINAL_MODEL_NAMES = ['model.ckpt', 'final.ckpt'] as const;
const CHECKPOINT_PATTERN = /\.ckpt$/;

/** The step number in a checkpoint's name ("checkpoint-000120.ckpt" -> 120), -1 without one. */
function stepOf(name: string): number {
  const digits = /(\d+)\D*$/.exec(name);
  return digits === null ? -1 : Number(digits[1]);
}

/** The checkpoint file that `target` designates. */
export function resolveModelFile(target: string): string {
  if (!existsSync(target)) throw new CliError('FILE_NOT_FOUND', `${target}: no such file or run folder`);
  if (!statSync(target).isDirectory()) return target;
  const entries = readdirSync(target);
  const final = FINAL_MODEL_NAMES.find((name) => entries.includes(name));
  if (final !== undefined) return join(target, final);
  const checkpoints = entries
    .filter((name) => CHECKPOINT_PATTERN.test(name))
    .map((name) => ({ name, modified: statSync(join(target, name)).mtimeMs }))
    // Newest first: by the step number in the name, then by modification time.
    .sort((a, b) => stepOf(b.name) - stepOf(a.name) || b.modified - a.modified);
  const newest = checkpoints[0];
  if (newest === undefined) {
    throw new CliError('NO_MODEL_IN_RUN', `${target}: a folder without a final model or checkpoint (expected ${FINAL_MODEL_NAMES[0]} or *.ckpt)`);
  }
  return join(target, newest.name);
}

/** Reads the checkpoint that `target` designates (errors are one-line CliErrors). */
export function loadCheckpointFile(target: string): LoadedCheckpoint {
  const path = resolveModelFile(target);
  try {
    const checkpoint = readCheckpoint(path);
    return { path, spec: checkpoint.modelSpec, params: checkpoint.parameters };
  } catch (error) {
    throw asCliError(error, path);
  }
}

/** A model built from the checkpoint's spec, holding its parameters. */
export function loadModel(target: string, kernels: KernelsOption = 'auto'): { model: Model; path: string } {
  const checkpoint = loadCheckpointFile(target);
  let model: Model;
  try {
    model = createModel(checkpoint.spec, { kernels: selectKernels(kernels) });
  } catch (error) {
    throw asCliError(error, checkpoint.path);
  }
  if (model.paramCount !== checkpoint.params.length) {
    throw new CliError('NOT_A_CHECKPOINT', `${checkpoint.path}: holds ${checkpoint.params.length} parameters, its model needs ${model.paramCount}`);
  }
  model.params.set(checkpoint.params);
  return { model, path: checkpoint.path };
}

/** Errors with a `code` from core (checkpoint, spec, data) are user errors; the rest are bugs. */
function asCliError(error: unknown, path: string): unknown {
  if (error instanceof CliError) return error;
  const code = errorCode(error);
  if (error instanceof Error && code !== undefined) {
    if (code === 'ENOENT') return new CliError('FILE_NOT_FOUND', `${path}: no such file`);
    const message = error.message.split('\n')[0]!;
    return new CliError('NOT_A_CHECKPOINT', message.includes(path) ? message : `${path}: ${message}`);
  }
  return error;
}

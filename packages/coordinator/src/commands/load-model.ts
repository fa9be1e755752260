/**
 * From what a user names on the command line (a run folder or a checkpoint file) to a
 * ready model. A run folder means its final model, or its newest checkpoint when the run
 * has not finished.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { countParameters, createModel, type KernelsChoice, type Model, type ModelSpec } from '@convoy/core';
import { readCheckpoint, selectNodeKernels } from '@convoy/core/node';
import { CHECKPOINT_FILE, MODEL_FILE } from '../persistence.js';
import { CliError, errorCode } from './errors.js';

export type KernelsOption = KernelsChoice;

export interface LoadedCheckpoint {
  /** The checkpoint file actually read. */
  readonly path: string;
  readonly spec: ModelSpec;
  readonly params: Float32Array;
}

// What the coordinator writes into a run folder: MODEL_FILE is the final model,
// CHECKPOINT_FILE the newest checkpoint (replaced at every save).
const FINAL_MODEL_FILE = MODEL_FILE;
const NEWEST_CHECKPOINT_FILE = CHECKPOINT_FILE;
const CHECKPOINT_SUFFIX = '.ckpt';

/**
 * The checkpoint file that `target` designates: the file itself, or in a run folder its
 * final model, else its newest checkpoint, else its most recently written *.ckpt file.
 */
export function resolveModelFile(target: string): string {
  if (!existsSync(target)) throw new CliError('FILE_NOT_FOUND', `${target}: no such file or run folder`);
  if (!statSync(target).isDirectory()) return target;
  const entries = readdirSync(target);
  for (const name of [FINAL_MODEL_FILE, NEWEST_CHECKPOINT_FILE]) if (entries.includes(name)) return join(target, name);
  const newest = entries
    .filter((name) => name.endsWith(CHECKPOINT_SUFFIX))
    .map((name) => ({ name, modified: statSync(join(target, name)).mtimeMs }))
    .sort((a, b) => b.modified - a.modified)[0];
  if (newest === undefined) {
    throw new CliError('NO_MODEL_IN_RUN', `${target}: a folder without ${FINAL_MODEL_FILE}, ${NEWEST_CHECKPOINT_FILE} or any *${CHECKPOINT_SUFFIX} file`);
  }
  return join(target, newest.name);
}

/** Reads the checkpoint that `target` designates (errors are one-line CliErrors). */
export function loadCheckpointFile(target: string): LoadedCheckpoint {
  const path = resolveModelFile(target);
  try {
    const checkpoint = readCheckpoint(path);
    // The spec is decoded JSON: validate it (SpecError names the layer) before anything uses it.
    const paramCount = countParameters(checkpoint.modelSpec);
    if (paramCount !== checkpoint.parameters.length) {
      throw new CliError('NOT_A_CHECKPOINT', `${path}: holds ${checkpoint.parameters.length} parameters, its model spec needs ${paramCount}`);
    }
    return { path, spec: checkpoint.modelSpec, params: checkpoint.parameters };
  } catch (error) {
    throw asCliError(error, path);
  }
}

/** A model built from the checkpoint's spec, holding its parameters. */
export function loadModel(target: string, kernels: KernelsOption = 'auto'): { model: Model; path: string } {
  const checkpoint = loadCheckpointFile(target);
  // A backend that cannot load (WASM_NOT_BUILT, NATIVE_UNAVAILABLE) is a coded user error of its own.
  const backend = selectNodeKernels(kernels);
  const model = createModel(checkpoint.spec, { kernels: backend });
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

/**
 * Reading and writing checkpoint files. Writes are atomic: the bytes go to a temporary file
 * in the same folder, which is flushed to disk (fsync) and then renamed over the target, so
 * a crash (kill -9, power loss) leaves either the old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Checkpoint, CheckpointError, decodeCheckpoint, encodeCheckpoint } from './checkpoint.js';

/** A name no other writer uses, hidden (leading dot), in the target's folder (rename is atomic only within one file system). */
function temporaryPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

function writeError(path: string, error: unknown): CheckpointError {
  const code = (error as NodeJS.ErrnoException).code;
  return new CheckpointError(`${path}: cannot write checkpoint (${code ?? (error as Error).message})`);
}

/** Makes the rename itself durable. Best effort: some file systems cannot fsync a folder. */
function syncFolder(path: string): void {
  try {
    const folder = openSync(dirname(path), 'r');
    try {
      fsyncSync(folder);
    } finally {
      closeSync(folder);
    }
  } catch {
    // Not supported here (e.g. some network or Windows file systems); the rename is still atomic.
  }
}

/** Encodes `checkpoint` and writes it to `path` atomically; blocks the event loop while writing (a few ms for 5 MB). */
export function writeCheckpointAtomicSync(path: string, checkpoint: Checkpoint): void {
  const bytes = encodeCheckpoint(checkpoint);
  const temporary = temporaryPath(path);
  try {
    const file = openSync(temporary, 'wx');
    try {
      for (let written = 0; written < bytes.length; ) written += writeSync(file, bytes, written, bytes.length - written);
      fsyncSync(file);
    } finally {
      closeSync(file);
    }
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw writeError(path, error);
  }
  syncFolder(path);
}

/** Like writeCheckpointAtomicSync, but the writing and fsync happen off the event loop. */
export async function writeCheckpointAtomic(path: string, checkpoint: Checkpoint): Promise<void> {
  const bytes = encodeCheckpoint(checkpoint);
  const temporary = temporaryPath(path);
  try {
    const file = await open(temporary, 'wx');
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw writeError(path, error);
  }
  syncFolder(path);
}

/** Reads and decodes a checkpoint; every error is a one-line CheckpointError naming `path`. */
export function readCheckpoint(path: string): Checkpoint {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CheckpointError(code === 'ENOENT' ? `${path}: checkpoint not found` : `${path}: cannot read checkpoint (${code ?? (error as Error).message})`);
  }
  return decodeCheckpoint(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

/**
 * The run folder on real files: the history position a checkpoint records, cutting
 * history.jsonl back to it on resume, a failed write (ENOSPC from /dev/full) reported once
 * and never thrown into the caller, stale checkpoint temporaries removed, a bad --out refused
 * at once. The full-disk runs through the real command line are in tests/hardening.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRecord, StepRecord } from '@convoy/core';
import { describe, expect, it } from 'vitest';
import { RunFolder, RunFolderError } from './run-folder.js';

const temp = mkdtempSync(join(tmpdir(), 'convoy-persistence-'));

function step(step: number): StepRecord {
  return { kind: 'step', step, epoch: 1, loss: 2.3, accuracy: 0.1, images: 4, imagesSeen: 4 * step, imagesPerSecond: 100, learningRate: 0.1, stepMs: 1, workers: 1, time: step };
}

function event(detail: string): EventRecord {
  return { kind: 'event', event: 'leave', step: 1, workerId: 1, detail, time: 1 };
}

/** A pid no process has: one that has just exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('RunFolder', () => {
  it('counts the bytes of history.jsonl, and cuts the file back to a checkpoint\'s count on resume', () => {
    const folder = new RunFolder(join(temp, 'cut'));
    expect(folder.create()).toBe(join(temp, 'cut'));
    folder.resetHistory([]);
    folder.appendHistory(step(1));
    folder.appendHistory(step(2));
    const atCheckpoint = folder.historyBytes;
    expect(atCheckpoint).toBe(readFileSync(folder.historyPath).length);
    folder.appendHistory(step(3));
    folder.appendHistory(event('gone'));

    const resumed = new RunFolder(folder.dir);
    expect((resumed.cutHistory(atCheckpoint) as StepRecord[]).map((record) => record.step)).toEqual([1, 2]);
    expect(readFileSync(folder.historyPath).length).toBe(atCheckpoint);
    expect(resumed.historyBytes).toBe(atCheckpoint);
    resumed.appendHistory(step(3));
    expect(readFileSync(folder.historyPath, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as StepRecord).step)).toEqual([1, 2, 3]);
  });

  it('refuses a history.jsonl shorter than the checkpoint\'s position, or not cut at a line end', () => {
    const folder = new RunFolder(join(temp, 'short'));
    folder.create();
    folder.resetHistory([step(1)]);
    const length = folder.historyBytes;
    expect(() => folder.cutHistory(length + 1)).toThrow(`holds ${length} bytes, the checkpoint's history ends at byte ${length + 1}`);
    expect(() => folder.cutHistory(length - 1)).toThrow(RunFolderError);
  });

  it('a full disk (history.jsonl on /dev/full): the append does not throw, the failure is reported once, nothing is written after it', () => {
    const folder = new RunFolder(join(temp, 'full'));
    folder.create();
    folder.resetHistory([]);
    folder.appendHistory(step(1));
    const good = folder.historyBytes;
    const failures: RunFolderError[] = [];
    folder.onFailure = (error) => failures.push(error);
    const history = folder.historyPath;
    // The same file name, now on a device that answers every write with ENOSPC.
    rmSync(history);
    symlinkSync('/dev/full', history);
    expect(() => folder.appendHistory(step(2))).not.toThrow();
    expect(() => folder.appendHistory(step(3))).not.toThrow();
    expect(failures.map((failure) => failure.message)).toEqual([`cannot write ${history}: no space left on device (ENOSPC)`]);
    expect(folder.failed).toBe(failures[0]);
    expect(folder.historyBytes).toBe(good);
  });

  it('a checkpoint write that fails rejects with a one-line RunFolderError and reports it', async () => {
    const folder = new RunFolder(join(temp, 'gone'));
    const failures: RunFolderError[] = [];
    folder.onFailure = (error) => failures.push(error);
    // The folder was never made: the write fails (ENOENT).
    const checkpoint = {} as Parameters<RunFolder['writeCheckpoint']>[0];
    await expect(folder.writeCheckpoint(checkpoint)).rejects.toBeInstanceOf(RunFolderError);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.message).not.toContain('\n');
  });

  it('removes checkpoint temporaries of dead processes and older than the checkpoint, keeps a live writer\'s', () => {
    const folder = new RunFolder(join(temp, 'stale'));
    folder.create();
    writeFileSync(folder.checkpointPath, 'the newest checkpoint');
    const dead = `.checkpoint.ckpt.${deadPid()}.0123456789ab.tmp`;
    const deadModel = `.model.ckpt.${deadPid()}.0123456789ab.tmp`;
    const liveNewer = `.checkpoint.ckpt.${process.pid}.aaaaaaaaaaaa.tmp`;
    const liveOlder = `.checkpoint.ckpt.${process.ppid}.bbbbbbbbbbbb.tmp`;
    const unrelated = `.notes.${deadPid()}.cccccccccccc.tmp`;
    for (const name of [dead, deadModel, liveNewer, liveOlder, unrelated]) writeFileSync(join(folder.dir, name), 'half a checkpoint');
    // An older temporary than the checkpoint cannot be a write in progress (its pid was reused).
    utimesSync(join(folder.dir, liveOlder), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    expect(folder.removeStaleTemporaries().sort()).toEqual([dead, deadModel, liveOlder].sort());
    expect(readdirSync(folder.dir).sort()).toEqual(['checkpoint.ckpt', liveNewer, unrelated].sort());
  });

  it('a folder that cannot be made fails at once with one line (no hang on /proc), and leaves nothing', () => {
    const started = performance.now();
    expect(() => new RunFolder('/proc/convoy').create()).toThrow('cannot write the run folder /proc/convoy: no such file or directory (ENOENT)');
    expect(() => new RunFolder('/proc/convoy/a/b').create()).toThrow(RunFolderError);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(existsSync('/proc/convoy')).toBe(false);
    const made = new RunFolder(join(temp, 'made', 'deep', 'run'));
    expect(made.create()).toBe(join(temp, 'made'));
    expect(readdirSync(made.dir)).toEqual([]);
  });
});

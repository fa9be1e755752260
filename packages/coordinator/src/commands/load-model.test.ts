// Which file a run folder means. resolveModelFile goes by file names only, so the
// checkpoints here are empty files (what is inside is loadCheckpointFile's business, and
// tests/export/cli.test.ts's with real checkpoints).
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveModelFile } from './load-model.js';

const folder = mkdtempSync(join(tmpdir(), 'convoy-load-model-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('run folders', () => {
  it('a run folder means model.ckpt, else checkpoint.ckpt, else the newest *.ckpt', () => {
    const partial = join(folder, 'partial');
    mkdirSync(partial);
    writeFileSync(join(partial, 'old.ckpt'), '');
    expect(resolveModelFile(partial)).toBe(join(partial, 'old.ckpt'));
    writeFileSync(join(partial, 'older.ckpt'), '');
    utimesSync(join(partial, 'older.ckpt'), new Date(2020, 0, 1), new Date(2020, 0, 1));
    expect(resolveModelFile(partial)).toBe(join(partial, 'old.ckpt'));
    writeFileSync(join(partial, 'checkpoint.ckpt'), '');
    expect(resolveModelFile(partial)).toBe(join(partial, 'checkpoint.ckpt'));
    writeFileSync(join(partial, 'model.ckpt'), '');
    expect(resolveModelFile(partial)).toBe(join(partial, 'model.ckpt'));
  });
});

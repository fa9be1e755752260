import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardRequestHandler } from './http.js';
import { isPlainName } from './runs.js';
import { START_TIME, runRecord, stepRecord } from './testing/history-fixture.js';
import { fetchRaw, serve } from './testing/raw-http.js';

const lines = (...records: object[]) => records.map((record) => `${JSON.stringify(record)}\n`).join('');

describe('the runs folder over HTTP (/runs, /runs/NAME/)', () => {
  const root = mkdtempSync(join(tmpdir(), 'convoy-dashboard-runs-'));
  const runs = join(root, 'runs');
  const dist = join(root, 'dist');
  let server: Server;
  let port = 0;

  beforeAll(async () => {
    mkdirSync(dist);
    writeFileSync(join(dist, 'index.html'), '<!doctype html><p>page</p>');
    writeFileSync(join(dist, 'dashboard.js'), 'console.log(1)');
    // Two runs, the current one, a folder without history, a file, links inside and out.
    for (const name of ['past', 'current', 'a <b>', 'empty']) mkdirSync(join(runs, name), { recursive: true });
    writeFileSync(
      join(runs, 'past', 'history.jsonl'),
      lines(runRecord({ runId: 'past-1' }), stepRecord(1), stepRecord(2), { kind: 'test', step: 2, loss: 0.5, accuracy: 0.8125, count: 16, time: START_TIME + 300 }, { kind: 'end', reason: 'finished', step: 2, detail: '', time: START_TIME + 400 }),
    );
    writeFileSync(join(runs, 'current', 'history.jsonl'), lines(runRecord({ runId: 'current-1' })));
    writeFileSync(join(runs, 'a <b>', 'history.jsonl'), lines(runRecord(), stepRecord(1)));
    writeFileSync(join(runs, 'file'), 'not a run');
    mkdirSync(join(root, 'outside'));
    writeFileSync(join(root, 'outside', 'history.jsonl'), lines(runRecord({ runId: 'outside-run-id' })));
    writeFileSync(join(root, 'secret.txt'), 'TOP-SECRET-CONTENT');
    symlinkSync(join(root, 'outside'), join(runs, 'escape'));
    symlinkSync(join(runs, 'past'), join(runs, 'latest'));
    ({ server, port } = await serve(createDashboardRequestHandler({ distDir: dist, history: () => ({ run: null, steps: [], epochs: [], test: null, workers: [], events: [], end: null }), runsDir: runs, currentRun: 'current' })));
  });
  afterAll(() => {
    server.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('/runs lists the run folders (not links, files or folders without history), the current one leading to /', async () => {
    const page = await fetchRaw(port, '/runs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const rows = [...page.body.matchAll(/<tr[^>]*><td><a href="([^"]*)">([^<]*)<\/a><\/td><td>[^<]*<\/td><td>([^<]*)<\/td><td class="num">([^<]*)<\/td><td class="num">[^<]*<\/td><td class="num">([^<]*)<\/td>/g)]
      .map((match) => match.slice(1))
      .sort((a, b) => a[1]!.localeCompare(b[1]!));
    expect(rows).toEqual([
      ['/runs/a%20%3Cb%3E/', 'a &#60;b&#62;', 'no end record (killed, or still running elsewhere)', '1', '–'],
      ['/', 'current', 'current run (live)', '–', '–'],
      ['/runs/past/', 'past', 'finished', '2', '81.25%'],
    ]);
    expect((await fetchRaw(port, '/runs/')).status).toBe(200);
  });

  it('/runs/NAME/ is the page, its files and its own history; /runs/NAME redirects there; the current run redirects to /', async () => {
    expect((await fetchRaw(port, '/runs/past')).headers['location']).toBe('/runs/past/');
    expect(await fetchRaw(port, '/runs/past/')).toMatchObject({ status: 200, body: '<!doctype html><p>page</p>' });
    expect(await fetchRaw(port, '/runs/past/dashboard.js')).toMatchObject({ status: 200, body: 'console.log(1)' });
    const json = await fetchRaw(port, '/runs/past/history.json');
    expect(json.status).toBe(200);
    const document = JSON.parse(json.body) as { run: { runId: string }; steps: unknown[]; end: { reason: string } };
    expect([document.run.runId, document.steps.length, document.end.reason]).toEqual(['past-1', 2, 'finished']);
    expect((await fetchRaw(port, '/runs/past/history.csv')).body.split('\r\n').filter((line) => line.startsWith('step,')).length).toBe(2);
    expect((await fetchRaw(port, '/runs/past/history.svg')).body).toMatch(/^<svg [^]*finished at step 2/);
    // A link inside the runs folder is an alias.
    expect(JSON.parse((await fetchRaw(port, '/runs/latest/history.json')).body).run.runId).toBe('past-1');
    const current = await fetchRaw(port, '/runs/current/');
    expect([current.status, current.headers['location']]).toEqual([302, '/']);
    // The page's query (?token=) survives both redirects.
    expect((await fetchRaw(port, '/runs/past?token=t')).headers['location']).toBe('/runs/past/?token=t');
    expect((await fetchRaw(port, '/runs/current/?token=t')).headers['location']).toBe('/?token=t');
  });

  it('nothing but direct children of the runs folder: traversal, encoded separators, links out, files, folders without history', async () => {
    const paths = [
      '/runs/..%2fsecret.txt/',
      '/runs/..%2foutside/history.json',
      '/runs/past%2f..%2f..%2foutside/history.json',
      '/runs/%2Fetc/history.json',
      '/runs/escape/history.json',
      '/runs/file/history.json',
      '/runs/empty/history.json',
      '/runs/nothing/',
      '/runs/past%00/history.json',
      '/runs/%E0%A4%A/history.json',
      '/runs/past/history.jsonl',
      '/runs/past/../../secret.txt',
    ];
    for (const path of paths) {
      const answer = await fetchRaw(port, path);
      expect([path, answer.status]).toEqual([path, 404]);
      expect(answer.body).not.toMatch(/TOP-SECRET-CONTENT|outside-run-id/);
    }
    // NOTE: URL parsing treats %2e%2e as '..' (WHATWG): this one is /history.json, the live run's own download.
    const dots = await fetchRaw(port, '/runs/%2e%2e/history.json');
    expect(dots.body).toBe((await fetchRaw(port, '/history.json')).body);
    expect((await fetchRaw(port, '/runs/past/', 'POST')).status).toBe(405);
    expect(['.', '..', 'a/b', 'a\\b', 'a\0', ''].filter(isPlainName)).toEqual([]);
  });

  it('without a runs folder, /runs is not the dashboard\'s', async () => {
    const bare = await serve(createDashboardRequestHandler({ distDir: dist }));
    try {
      expect(await fetchRaw(bare.port, '/runs')).toMatchObject({ status: 404, body: 'fallback\n' });
    } finally {
      bare.server.close();
    }
  });
});

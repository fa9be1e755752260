import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDashboardRequestHandler } from './http.js';
import { RUNS_JSON } from './runs-json.js';
import { epochRecord, runRecord, stepRecord } from './testing/history-fixture.js';

describe(`${RUNS_JSON} (the overlay's choice of runs)`, () => {
  it('lists each run folder with its last step and end, the current one marked; read-only', async () => {
    const runsDir = mkdtempSync(join(tmpdir(), 'convoy-runs-json-'));
    const write = (name: string, records: unknown[]) => {
      mkdirSync(join(runsDir, name));
      writeFileSync(join(runsDir, name, 'history.jsonl'), records.map((record) => `${JSON.stringify(record)}\n`).join(''));
    };
    write('done', [runRecord(), stepRecord(1), stepRecord(2), epochRecord(1, 2), { kind: 'end', reason: 'finished', step: 2, detail: '2 steps', time: 5 }]);
    write('live', [runRecord(), stepRecord(1)]);
    mkdirSync(join(runsDir, 'not-a-run'));
    const handler = createDashboardRequestHandler({ runsDir, currentRun: 'live' });
    const server = createServer((request, response) => {
      if (!handler(request, response)) response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const response = await fetch(`${base}${RUNS_JSON}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const runs = (await response.json()) as { name: string }[];
      expect(runs.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
        { name: 'done', current: false, lastStep: 2, end: 'finished' },
        { name: 'live', current: true, lastStep: 1, end: null },
      ]);
      expect((await fetch(`${base}${RUNS_JSON}`, { method: 'POST' })).status).toBe(405);
      // Without a runs folder the handler leaves the path to the server.
      const bare = createDashboardRequestHandler({});
      expect(bare({ url: RUNS_JSON, method: 'GET' } as never, {} as never)).toBe(false);
    } finally {
      server.close();
    }
  });
});

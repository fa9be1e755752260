/**
 * TEST FIXTURE, not a coordinator: an HTTP server with the real dashboard handler and a
 * WebSocket that answers `subscribe` with a snapshot of a long synthetic run and then
 * streams step records fast. It exists to load the page with 20,000+ steps in seconds
 * (a real run that long takes minutes); the real-run behaviour is browser.test.ts's.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { encodeMessage, type MetricsRecord } from '../../packages/core/src/index.js';
import { createDashboardRequestHandler } from '../../packages/dashboard/src/index.js';
import type { History } from '../../packages/dashboard/src/history-export.js';
import { ROOT } from '../support/processes.js';

/** `ws` as the coordinator package resolves it (the repository root does not depend on it). */
const { WebSocketServer } = createRequire(join(ROOT, 'packages/coordinator/package.json'))('ws') as typeof import('ws');

export interface FakeCoordinator {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `history` as the snapshot, then sends `live` records `perSecond` a second (in bursts every 10 ms). */
export async function startFakeCoordinator(history: History, live: readonly MetricsRecord[], perSecond: number): Promise<FakeCoordinator> {
  const handler = createDashboardRequestHandler({ history: () => history });
  const server: Server = createServer((request, response) => {
    if (!handler(request, response)) response.writeHead(404).end();
  });
  const sockets = new WebSocketServer({ server });
  const timers: NodeJS.Timeout[] = [];
  sockets.on('connection', (socket) => {
    socket.once('message', () => {
      socket.send(encodeMessage({ type: 'snapshot', ...history }));
      let next = 0;
      const timer = setInterval(() => {
        const burst = Math.max(1, Math.round(perSecond / 100));
        for (let i = 0; i < burst && next < live.length; i++) socket.send(encodeMessage({ type: 'metrics', record: live[next++]! }));
        if (next >= live.length) clearInterval(timer);
      }, 10);
      timers.push(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const timer of timers) clearInterval(timer);
      for (const client of sockets.clients) client.terminate();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
      // NOTE: a browser closing slowly under load may still hold an HTTP connection, which
      // server.close() would wait for (once, past the hook's 60 s).
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

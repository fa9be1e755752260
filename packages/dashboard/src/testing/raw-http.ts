/**
 * Test helpers (not used by the page): a server like the coordinator's (the dashboard's
 * handler first, then its own 404 fallback) on 127.0.0.1 port 0, and raw requests whose
 * path is sent as given, so ../ and %2e%2e are not normalised away by a client.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DashboardRequestHandler } from '../http.js';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function fetchRaw(port: number, path: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path, method }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

export async function serve(handler: DashboardRequestHandler): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    if (handler(request, response)) return;
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('fallback\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

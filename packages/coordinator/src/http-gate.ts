/**
 * The coordinator's HTTP side: the server that carries the dashboard and the WebSocket
 * upgrade, and the gate every plain HTTP request passes (Host check, /health, the token on
 * every other route, the plain page). The WebSocket side stays in transport.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { ServerOptions } from './defaults.js';
import { browserProblem, presentedToken, readTlsFiles, tokenCookie } from './secrets.js';

/**
 * Answers a dashboard request (true) or leaves it to the coordinator's plain page (false).
 * `openPaths`: the paths it serves without the token (the browser worker's page, which asks for it).
 */
export type HttpHandler = ((request: IncomingMessage, response: ServerResponse) => boolean) & { readonly openPaths?: ReadonlySet<string> };

/** An HTTP (or, with tlsCert and tlsKey, HTTPS) server sending every request to `onRequest`. */
export function createHttpServer(options: ServerOptions, onRequest: (request: IncomingMessage, response: ServerResponse) => void): Server {
  // NOTE: Node waits 60 s for the headers of a request (and checks only every 30 s): a peer
  // sending garbage or nothing would hold its socket that long. Here it gets the handshake deadline.
  const requestMs = Math.max(1_000, options.handshakeMs);
  const httpOptions = { headersTimeout: requestMs, requestTimeout: 4 * requestMs, connectionsCheckingInterval: Math.min(1_000, requestMs) };
  return options.tlsCert !== undefined && options.tlsKey !== undefined
    ? createTlsServer({ ...httpOptions, ...readTlsFiles(options.tlsCert, options.tlsKey) }, onRequest)
    : createServer(httpOptions, onRequest);
}

/**
 * Who may ask what: /health is open and says only that the coordinator is up; with a token,
 * every other route but the browser worker's page needs it (?token=, Authorization: Bearer, or the cookie set when the
 * token came in the address or header). A loopback coordinator answers loopback names only.
 * `port` is the listening port (the token cookie is scoped to it).
 */
export function answerHttp(request: IncomingMessage, response: ServerResponse, options: ServerOptions, port: number, httpHandler: HttpHandler | null): void {
  const plain = (status: number, body: string, headers: Record<string, string> = {}) => {
    response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
    response.end(request.method === 'HEAD' ? undefined : body);
  };
  const secure = options.tlsCert !== undefined;
  const problem = browserProblem(request, options.host, false);
  if (problem !== null) return plain(403, `refused: ${problem}\n`);
  if (request.url === '/health') {
    // NOTE: nothing but "up": no step, no path, no worker (it answers without the token).
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    response.end(request.method === 'HEAD' ? undefined : JSON.stringify({ ok: true }));
    return;
  }
  const token = options.token;
  // The browser worker's page asks for the token itself; its socket's hello must carry it (docs/hardening.md).
  if (token !== undefined && httpHandler?.openPaths?.has(pathOf(request)) !== true) {
    const presented = presentedToken(request, token, port);
    if (presented === null) {
      return plain(401, 'this coordinator needs its token: open the dashboard as /?token=SECRET, or send Authorization: Bearer SECRET\n', {
        'www-authenticate': 'Bearer realm="convoy"',
      });
    }
    if (presented !== 'cookie') response.setHeader('set-cookie', tokenCookie(port, token, secure));
  }
  if (httpHandler?.(request, response)) return;
  plain(200, 'Convoy coordinator. Workers and dashboards connect here over WebSocket.\n');
}

/** The request's path without its query ('' when the address cannot be parsed). */
function pathOf(request: IncomingMessage): string {
  try {
    return new URL(request.url ?? '/', 'http://coordinator.invalid').pathname;
  } catch {
    return '';
  }
}

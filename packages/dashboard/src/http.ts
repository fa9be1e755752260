/**
 * The dashboard's HTTP side, as a plain Node request handler the coordinator mounts on
 * its own server (the WebSocket for metrics shares the port). It serves a fixed list of
 * built files from dist/ (so no path can reach anything else: there is no path joining
 * at all) and the run's full history as CSV and JSON downloads. GET and HEAD only: the
 * page is read-only, and so is everything behind it.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { historyToCsv, historyToJson, type History } from './history-export.js';

/** packages/dashboard/dist, written by `pnpm build` (build.mjs). */
export const DEFAULT_DIST_DIR = fileURLToPath(new URL('../dist/', import.meta.url));

export interface DashboardAsset {
  /** File name inside the dist folder. */
  readonly file: string;
  readonly contentType: string;
}

/** URL path -> built file. Everything the page loads is here; nothing comes from elsewhere. */
export function dashboardAssets(): ReadonlyMap<string, DashboardAsset> {
  const html = { file: 'index.html', contentType: 'text/html; charset=utf-8' };
  return new Map([
    ['/', html],
    ['/index.html', html],
    ['/dashboard.js', { file: 'dashboard.js', contentType: 'text/javascript; charset=utf-8' }],
    ['/dashboard.css', { file: 'dashboard.css', contentType: 'text/css; charset=utf-8' }],
    ['/favicon.svg', { file: 'favicon.svg', contentType: 'image/svg+xml' }],
  ]);
}

/**
 * The page may load only what the coordinator serves and talk only to it: this is what
 * makes "no resource from the internet" hold even if a file tried otherwise.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface DashboardHandlerOptions {
  /** Folder of the built page (default DEFAULT_DIST_DIR). */
  readonly distDir?: string;
  /** The run's full history, for /history.csv and /history.json (the page itself keeps only a bounded copy). */
  readonly history?: () => History;
}

/** Returns true when it answered; false lets the coordinator answer (e.g. /health). */
export type DashboardRequestHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

export function createDashboardRequestHandler(options: DashboardHandlerOptions = {}): DashboardRequestHandler {
  const distDir = options.distDir ?? DEFAULT_DIST_DIR;
  const assets = dashboardAssets();
  return (request, response) => {
    let path: string;
    try {
      path = new URL(request.url ?? '/', 'http://dashboard.invalid').pathname;
    } catch {
      return false;
    }
    const asset = assets.get(path);
    const download = path === '/history.csv' || path === '/history.json';
    if (asset === undefined && !download) return false;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(request, response, 405, 'text/plain; charset=utf-8', 'the dashboard is read-only: GET and HEAD only\n', { allow: 'GET, HEAD' });
      return true;
    }
    if (download) {
      if (options.history === undefined) {
        send(request, response, 404, 'text/plain; charset=utf-8', 'this server keeps no history\n');
        return true;
      }
      const history = options.history();
      const csv = path === '/history.csv';
      const name = `convoy-history-${(history.run?.runId ?? 'run').replace(/[^\w.-]/g, '_')}.${csv ? 'csv' : 'json'}`;
      send(request, response, 200, csv ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8', csv ? historyToCsv(history) : historyToJson(history), {
        'content-disposition': `attachment; filename="${name}"`,
      });
      return true;
    }
    readFile(`${distDir}/${asset!.file}`).then(
      (bytes) => send(request, response, 200, asset!.contentType, bytes),
      () =>
        send(
          request,
          response,
          503,
          'text/plain; charset=utf-8',
          `the dashboard is not built (${asset!.file} missing in ${distDir}): run pnpm build\n`,
        ),
    );
    return true;
  };
}

function send(
  request: IncomingMessage,
  response: ServerResponse,
  status: number,
  contentType: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  response.writeHead(status, {
    'content-type': contentType,
    'content-length': String(bytes.byteLength),
    // The page is rebuilt with the code; a stale cached script would speak an old protocol.
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'referrer-policy': 'no-referrer',
    ...headers,
  });
  response.end(request.method === 'HEAD' ? undefined : bytes);
}

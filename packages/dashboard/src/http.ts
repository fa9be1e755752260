/**
 * The dashboard's HTTP side, as a plain Node request handler the coordinator mounts on
 * its own server (the WebSocket for metrics shares the port). It serves a fixed list of
 * built files from dist/ (so no path can reach anything else: there is no path joining
 * at all) and the run's full history as CSV and JSON downloads. With a runs folder it
 * also serves the past runs beside the current one: /runs lists them, /runs/NAME/ is the
 * same page reading that run's history.jsonl (see runs.ts for how a name is checked).
 * GET and HEAD only: the page is read-only, and so is everything behind it.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DownloadCache } from './download-cache.js';
import { historyToCsv, historyToJson, type History } from './history-export.js';
import { renderHistorySvg } from './history-svg.js';
import { parseHistoryJsonl } from './past-run.js';
import { RUN_HISTORY_FILE, listRuns, renderRunsPage, resolveRun } from './runs.js';
import { RUNS_JSON } from './runs-json.js';

/** packages/dashboard/dist, written by `pnpm build` (build.mjs). */
export const DEFAULT_DIST_DIR = fileURLToPath(new URL('../dist/', import.meta.url));

export interface DashboardAsset {
  /** File name inside the dist folder. */
  readonly file: string;
  readonly contentType: string;
  /** Part of the browser worker's page: served with WORKER_CONTENT_SECURITY_POLICY, and without the token (WORKER_PAGE_PATHS). */
  readonly workerPage?: true;
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
    ...WORKER_PAGE_ASSETS,
  ]);
}

/** The browser worker's page: its HTML, its script, its Web Worker and the wasm kernels that Web Worker fetches. */
const WORKER_PAGE_ASSETS: readonly (readonly [string, DashboardAsset])[] = [
  ['/worker', { file: 'worker.html', contentType: 'text/html; charset=utf-8', workerPage: true }],
  ['/worker.js', { file: 'worker.js', contentType: 'text/javascript; charset=utf-8', workerPage: true }],
  ['/compute-worker.js', { file: 'compute-worker.js', contentType: 'text/javascript; charset=utf-8', workerPage: true }],
  ['/kernels-relaxed.wasm', { file: 'kernels-relaxed.wasm', contentType: 'application/wasm', workerPage: true }],
  ['/kernels-simd.wasm', { file: 'kernels-simd.wasm', contentType: 'application/wasm', workerPage: true }],
];

/**
 * Paths the coordinator serves without its token: the worker page asks for the token itself
 * (or reads it from the address's fragment, which never reaches the server), and these files
 * are the same code for every run, holding nothing of it. docs/hardening.md says why.
 */
export const WORKER_PAGE_PATHS: ReadonlySet<string> = new Set(WORKER_PAGE_ASSETS.map(([path]) => path));

/**
 * The page may load only what the coordinator serves and talk only to it: this is what
 * makes "no resource from the internet" hold even if a file tried otherwise.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The worker page's policy: the dashboard's, plus compiling WebAssembly ('wasm-unsafe-eval',
 * which allows wasm and nothing of eval) for the kernels its Web Worker runs.
 * NOTE: a Web Worker is governed by the policy sent with its own script, not the page's.
 */
export const WORKER_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'");

export interface DashboardHandlerOptions {
  /** Folder of the built page (default DEFAULT_DIST_DIR). */
  readonly distDir?: string;
  /** The run's full history, for /history.csv and /history.json (the page itself keeps only a bounded copy). */
  readonly history?: () => History;
  /** The folder holding the run folders (the current run's parent), for /runs and /runs/NAME/. */
  readonly runsDir?: string;
  /** The current run's folder name inside runsDir: /runs/NAME/ of it leads to the live page. */
  readonly currentRun?: string;
  /**
   * A cheap view of the current run (the records kept in memory) that changes whenever
   * `history` does: the downloads' cache compares it, so `history` (which may read the run's
   * file) is called only for a build. Default: `history`.
   */
  readonly liveHistory?: () => History;
  /** Called after each build of a current-run download (its path, milliseconds); see download-cache.ts. */
  readonly onBuild?: (path: string, ms: number) => void;
}

/** What a run's files are served as, under / (the current run) and /runs/NAME/ (a past one). */
const DOWNLOADS = ['/history.csv', '/history.json', '/history.svg'] as const;
type Download = (typeof DOWNLOADS)[number];
const TEXT = 'text/plain; charset=utf-8';

function download(path: Download): { type: string; build: (history: History) => string; attachment: boolean } {
  switch (path) {
    case '/history.csv':
      return { type: 'text/csv; charset=utf-8', build: historyToCsv, attachment: true };
    case '/history.json':
      return { type: 'application/json; charset=utf-8', build: historyToJson, attachment: true };
    case '/history.svg':
      return { type: 'image/svg+xml; charset=utf-8', build: renderHistorySvg, attachment: false };
    default: {
      const unknown: never = path;
      throw new Error(`unknown download ${String(unknown)}`);
    }
  }
}

/**
 * Returns true when it answered; false lets the coordinator answer (e.g. /health). `openPaths`
 * tells the coordinator's token gate what to serve without the token (WORKER_PAGE_PATHS).
 */
export type DashboardRequestHandler = ((request: IncomingMessage, response: ServerResponse) => boolean) & { readonly openPaths: ReadonlySet<string> };

export function createDashboardRequestHandler(options: DashboardHandlerOptions = {}): DashboardRequestHandler {
  const distDir = options.distDir ?? DEFAULT_DIST_DIR;
  const assets = dashboardAssets();
  const currentDownloads = new DownloadCache(options.onBuild);

  const serveAsset = (request: IncomingMessage, response: ServerResponse, asset: DashboardAsset): void => {
    readFile(`${distDir}/${asset.file}`).then(
      (bytes) => send(request, response, 200, asset.contentType, bytes, asset.workerPage ? { 'content-security-policy': WORKER_CONTENT_SECURITY_POLICY } : {}),
      () => send(request, response, 503, TEXT, `the dashboard is not built (${asset.file} missing in ${distDir}): run pnpm build\n`),
    );
  };

  /** A past run's download, built per request, or the current run's through the cache (`full` gives its whole history). */
  const serveDownload = (request: IncomingMessage, response: ServerResponse, path: Download, history: History, full: (() => History) | null): void => {
    const { type, build, attachment } = download(path);
    const body = full === null ? build(history) : currentDownloads.get(path, history, () => build(full()));
    const name = `convoy-history-${(history.run?.runId ?? 'run').replace(/[^\w.-]/g, '_')}${path.slice('/history'.length)}`;
    send(request, response, 200, type, body, attachment ? { 'content-disposition': `attachment; filename="${name}"` } : {});
  };

  /** /runs, /runs/NAME and everything under /runs/NAME/ (runsDir is set). */
  const serveRuns = (request: IncomingMessage, response: ServerResponse, runsDir: string, url: URL, segment: string | undefined, rest: string | undefined): void => {
    if (segment === undefined) {
      listRuns(runsDir).then(
        (runs) => send(request, response, 200, 'text/html; charset=utf-8', renderRunsPage(runsDir, runs, options.currentRun ?? null)),
        (error: Error) => send(request, response, 500, TEXT, `cannot list ${runsDir}: ${error.message}\n`),
      );
      return;
    }
    let name: string;
    try {
      name = decodeURIComponent(segment);
    } catch {
      send(request, response, 404, TEXT, 'no such run\n');
      return;
    }
    if (rest === undefined) {
      // The page's links are relative: they must resolve inside /runs/NAME/. The query (?token=) goes along.
      send(request, response, 301, TEXT, 'moved\n', { location: `/runs/${encodeURIComponent(name)}/${url.search}` });
      return;
    }
    if (name === options.currentRun) {
      send(request, response, 302, TEXT, 'the current run is live at /\n', { location: `${rest}${url.search}` });
      return;
    }
    const asset = assets.get(rest);
    const pastDownload = DOWNLOADS.find((candidate) => candidate === rest);
    if (asset === undefined && pastDownload === undefined) {
      send(request, response, 404, TEXT, 'not found\n');
      return;
    }
    resolveRun(runsDir, name).then(async (folder) => {
      if (folder === null) return send(request, response, 404, TEXT, `no run named ${JSON.stringify(name)} in ${runsDir} (see /runs)\n`);
      if (asset !== undefined) return serveAsset(request, response, asset);
      let history: History;
      try {
        history = parseHistoryJsonl(await readFile(join(folder, RUN_HISTORY_FILE), 'utf8'));
      } catch (error) {
        return send(request, response, 500, TEXT, `${name}/${RUN_HISTORY_FILE} cannot be read: ${(error as Error).message}\n`);
      }
      serveDownload(request, response, pastDownload!, history, null);
    }, (error: Error) => send(request, response, 500, TEXT, `${error.message}\n`));
  };

  const handler = (request: IncomingMessage, response: ServerResponse): boolean => {
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://dashboard.invalid');
    } catch {
      return false;
    }
    const path = url.pathname;
    if (path === RUNS_JSON && options.runsDir !== undefined) {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        send(request, response, 405, TEXT, 'the dashboard is read-only: GET and HEAD only\n', { allow: 'GET, HEAD' });
        return true;
      }
      // The overlay's choice of runs (page/overlay.ts): each run's name and how far it got.
      listRuns(options.runsDir).then(
        (runs) => send(request, response, 200, 'application/json; charset=utf-8', JSON.stringify(runs.map((run) => ({ name: run.name, current: run.name === options.currentRun, lastStep: run.lastStep, end: run.end?.reason ?? null })))),
        (error: Error) => send(request, response, 500, TEXT, `cannot list ${options.runsDir}: ${error.message}\n`),
      );
      return true;
    }
    const asset = assets.get(path);
    const currentDownload = DOWNLOADS.find((candidate) => candidate === path);
    // /runs, /runs/, /runs/NAME, /runs/NAME/..., with NAME still percent-encoded (one segment).
    const runs = options.runsDir === undefined ? null : /^\/runs(?:\/([^/]+)(\/.*)?)?\/?$/.exec(path);
    if (asset === undefined && currentDownload === undefined && runs === null) return false;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(request, response, 405, TEXT, 'the dashboard is read-only: GET and HEAD only\n', { allow: 'GET, HEAD' });
      return true;
    }
    if (runs !== null) {
      serveRuns(request, response, options.runsDir!, url, runs[1], runs[2]);
      return true;
    }
    if (currentDownload !== undefined) {
      if (options.history === undefined) {
        send(request, response, 404, TEXT, 'this server keeps no history\n');
        return true;
      }
      const full = options.history;
      serveDownload(request, response, currentDownload, (options.liveHistory ?? full)(), full);
      return true;
    }
    serveAsset(request, response, asset!);
    return true;
  };
  return Object.assign(handler, { openPaths: WORKER_PAGE_PATHS });
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

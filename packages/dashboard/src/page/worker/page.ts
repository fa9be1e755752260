/**
 * The worker page's own thread (bundled as worker.js): reads the token from the address's
 * fragment (`/worker#token=SECRET&name=NAME`: a fragment never reaches the server, so the
 * token stays out of its logs) or from the form, starts the Web Worker that does the work,
 * and shows what it reports. Stop sends `leave` (the slice goes to the others at once);
 * closing the tab is a worker dying, whose slice the coordinator recomputes within the step.
 */
import { formatBytes, formatCount } from '../../format.js';
import { workerUrl } from '../../join.js';
import { openDatasetStore } from './dataset-store.js';
import type { PageRequest, SessionStatus, WorkerReport } from './status.js';

const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = element<HTMLFormElement>('join-form');
const tokenInput = element<HTMLInputElement>('token');
const stopButton = element<HTMLButtonElement>('stop');

/** Why a frozen tab left (the coordinator logs it; the page shows it until the tab resumes). */
const FROZEN_REASON = 'the browser froze this tab; it joins again when the tab resumes';

const fragment = new URLSearchParams(location.hash.slice(1));
const name = fragment.get('name') ?? `browser-${Math.random().toString(16).slice(2, 6)}`;
const compute = new Worker('compute-worker.js');
const ask = (request: PageRequest) => compute.postMessage(request);

/** The token of the last join, for joining again when the browser resumes a frozen tab. */
let joinedWith: string | undefined;
/** Whether this tab left because the browser froze it (and so joins again when it resumes). */
let leftFrozen = false;

function join(token: string | undefined): void {
  joinedWith = token === '' ? undefined : token;
  ask({ type: 'join', url: `${workerUrl(location)}/`, token: joinedWith, name });
}

/**
 * A hidden tab keeps working: Chromium throttles a hidden page's own timers, not its
 * dedicated Web Worker, and the socket and the computation live there. A frozen tab (what
 * Chromium does to a hidden, CPU-heavy tab in Energy Saver, or to one in the back/forward
 * cache) leaves instead: its slice goes to the others at once rather than when its
 * deadline passes, and it joins again, with the dataset it holds, when it resumes.
 * NOTE: the leave is asked for in the `freeze` event, before the page stops. Whether Chromium
 * also pauses the Web Worker of a frozen page could not be measured (headless Chromium
 * freezes nothing: bench/README.md, "Browser worker"), so the tab leaves either way.
 */
document.addEventListener('freeze', () => {
  if (!isActive(lastStatus.state)) return;
  leftFrozen = true;
  ask({ type: 'leave', reason: FROZEN_REASON });
});
document.addEventListener('resume', () => {
  if (!leftFrozen) return;
  leftFrozen = false;
  join(joinedWith);
});

form.addEventListener('submit', (event) => {
  event.preventDefault();
  join(tokenInput.value);
});
stopButton.addEventListener('click', () => ask({ type: 'leave', reason: 'stopped from the browser page' }));
compute.onmessage = (event: MessageEvent<WorkerReport>) => {
  const report = event.data;
  switch (report.type) {
    case 'status':
      return show(report.status);
    case 'keep':
      // Best effort: a browser that refuses the write (quota, private mode) downloads it again next time.
      void openDatasetStore()
        .then((store) => store?.save(report.id, report.frame).then(() => {
          element('dataset-source').textContent = 'dataset: kept in this browser for the next join';
          document.body.dataset['kept'] = 'true';
        }))
        .catch(() => undefined);
      return;
    default: {
      const unknown: never = report;
      throw new Error(`unknown report ${JSON.stringify(unknown)}`);
    }
  }
};
compute.onerror = (event) => show({ ...lastStatus, state: 'refused', detail: `the page's worker failed: ${event.message}` });

let lastStatus: SessionStatus = {
  state: 'loading', detail: '', workerId: null, variant: null, runtime: '', slices: 0, images: 0, computeMs: 0, bytesIn: 0, bytesOut: 0, datasetFromCache: false,
};

const STATE_TEXT: Record<SessionStatus['state'], string> = {
  loading: 'loading',
  unsupported: 'cannot run here',
  connecting: 'connecting',
  downloading: 'receiving the dataset',
  ready: 'working',
  refused: 'refused',
  lost: 'coordinator lost',
  stopped: 'stopped',
};

const isActive = (state: SessionStatus['state']) => state === 'connecting' || state === 'downloading' || state === 'ready';

function show(status: SessionStatus): void {
  lastStatus = status;
  const active = isActive(status.state);
  const rate = status.computeMs > 0 ? (1000 * status.images) / status.computeMs : 0;
  const badge = element('state');
  badge.textContent = STATE_TEXT[status.state];
  badge.dataset['state'] = status.state;
  element('detail').textContent = status.detail;
  element('worker-id').textContent = status.workerId === null ? '–' : String(status.workerId);
  element('slices').textContent = formatCount(status.slices);
  element('images').textContent = formatCount(status.images);
  element('rate').textContent = rate > 0 ? formatCount(rate) : '–';
  element('bytes-in').textContent = formatBytes(status.bytesIn);
  element('bytes-out').textContent = formatBytes(status.bytesOut);
  element('engine').textContent = status.variant === null ? status.runtime : `wasm ${status.variant === 'relaxed' ? 'relaxed SIMD' : 'SIMD'} · ${status.runtime}`;
  if (status.datasetFromCache) element('dataset-source').textContent = "dataset: read from this browser's cache, not downloaded";
  stopButton.disabled = !active;
  // The form is for (re)joining: hidden while a session is active or where nothing can run.
  form.hidden = active || status.state === 'unsupported' || status.state === 'loading';
  if (status.state === 'refused' && /BAD_TOKEN/.test(status.detail)) tokenInput.focus();
  // For tests and scripts: the figures as data attributes.
  Object.assign(document.body.dataset, {
    state: status.state, slices: String(status.slices), images: String(status.images), workerId: String(status.workerId ?? ''),
    bytesIn: String(status.bytesIn), bytesOut: String(status.bytesOut), computeMs: String(status.computeMs), fromCache: String(status.datasetFromCache),
  });
}

// Joins at once: with the fragment's token, or none (a coordinator without --token takes it;
// one with a token refuses, and the page then asks for it).
join(fragment.get('token') ?? undefined);

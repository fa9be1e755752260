/**
 * The dashboard page: connects to the coordinator that served it, keeps the run in a
 * RunState, and redraws at most RENDER_INTERVAL_MS apart, so a burst of records (a
 * snapshot of 10,000 steps, or 50 fast steps a second) costs one redraw, not one each.
 * Read-only: the only message it ever sends is `subscribe`.
 *
 * Served under /runs/NAME/ it shows a past run instead: the same page, filled once from
 * that run's history (history.json beside it), with no connection at all.
 */
import { RunState } from '../run-state.js';
import { Charts } from './charts.js';
import { connect, type ConnectionStatus } from './connection.js';
import { EpochView } from './epoch-view.js';
import { overlayState, setUpOverlay } from './overlay.js';
import { renderTimeline } from './timeline.js';
import { renderEvents, renderProgress, renderScores, renderSettings, renderWaiting, renderWorkers } from './panels.js';
import { workerUrl } from '../join.js';
import { parseHistoryDocument } from '../past-run.js';

/** Four redraws a second at most. */
const RENDER_INTERVAL_MS = 250;
const SMOOTHING_KEY = 'convoy.smoothing';

const state = new RunState();
const charts = new Charts(document.getElementById('loss-chart')!, document.getElementById('accuracy-chart')!, document.getElementById('lr-chart')!, () => state);
const epochView = new EpochView();
const slider = document.getElementById('smoothing') as HTMLInputElement;
const sliderValue = document.getElementById('smoothing-value')!;
const connectionBadge = document.getElementById('connection')!;
const connectionDetail = document.getElementById('connection-detail')!;
/** /runs/NAME/: a past run, read from its folder. */
const pastRun = /^\/runs\/[^/]+\/(?:index\.html)?$/.test(location.pathname);
const hasToken = new URLSearchParams(location.search).has('token');
const joinCopy = document.getElementById('join-copy')!;
joinCopy.addEventListener('click', () => {
  // NOTE: the clipboard needs a secure context (https or localhost); elsewhere the command is selected for Ctrl-C.
  const command = document.getElementById('join-command')!;
  const select = () => getSelection()?.selectAllChildren(command);
  if (navigator.clipboard === undefined) return select();
  navigator.clipboard.writeText(command.textContent ?? '').then(() => (joinCopy.textContent = 'copied'), select);
});

/** The slider's setting survives a reload; storage may be off (private windows, blocked cookies). */
function remembered(): string | null {
  try {
    return localStorage.getItem(SMOOTHING_KEY);
  } catch {
    return null;
  }
}

function remember(value: number): void {
  try {
    localStorage.setItem(SMOOTHING_KEY, String(value));
  } catch {
    // not kept: fine
  }
}

const stored = remembered();
if (stored !== null && Number(stored) >= 0 && Number(stored) < 1) slider.value = stored;
let smoothing = Number(slider.value);
let drawnVersion = -1;
let drawnOverlay = -1;
let drawnSmoothing = -1;
let renders = 0;
let slowestRenderMs = 0;

slider.addEventListener('input', () => {
  smoothing = Math.min(0.999, Math.max(0, Number(slider.value)));
  remember(smoothing);
});

const STATUS_TEXT: Readonly<Record<ConnectionStatus, string>> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  paused: 'waiting for --resume',
  over: 'run over',
  refused: 'refused',
};

function showStatus(status: ConnectionStatus, detail: string): void {
  connectionBadge.dataset['state'] = status;
  connectionBadge.textContent = STATUS_TEXT[status];
  connectionBadge.title = detail;
  // A refusal says why in words (e.g. "BAD_TOKEN: wrong token": open the page with ?token=SECRET).
  connectionDetail.textContent = status === 'refused' ? detail : '';
}

async function showPastRun(): Promise<void> {
  connectionBadge.dataset['state'] = 'past';
  connectionBadge.textContent = 'past run';
  connectionBadge.title = 'read from the run folder\'s history.jsonl; the live run is at /';
  document.getElementById('workers-empty')!.textContent = 'The run folder keeps no worker table; joins, leaves and deaths are in the events below.';
  document.getElementById('timeline-empty')!.textContent = "A past run's steps are in its trace.jsonl: pnpm convoy trace runs/NAME writes them as a trace for Perfetto.";
  try {
    const response = await fetch('history.json');
    if (!response.ok) throw new Error(`${response.status} ${(await response.text()).trim()}`);
    state.past = true;
    state.reset(parseHistoryDocument(await response.json()));
    document.body.dataset['pastRun'] = 'loaded';
  } catch (error) {
    connectionBadge.dataset['state'] = 'refused';
    connectionBadge.textContent = 'unreadable';
    connectionDetail.textContent = `this run's history cannot be shown: ${(error as Error).message}`;
    document.body.dataset['pastRun'] = 'failed';
  }
}

const listOverlayRuns = setUpOverlay(document.getElementById('overlay-select') as HTMLSelectElement, document.getElementById('overlay-status')!);
let overlayRunsListed = false;

if (pastRun) {
  void showPastRun();
} else {
  connect({
    onStatus: showStatus,
    onMessage(message) {
      switch (message.type) {
        case 'snapshot':
          return state.reset(message);
        case 'metrics':
          return state.apply(message.record);
        case 'error':
          return; // it comes with its close; the connection reports it through onStatus
        default: {
          const unhandled: never = message;
          console.warn(`convoy dashboard: unhandled message ${JSON.stringify(unhandled)}`);
        }
      }
    },
  });
}

function render(): void {
  // Progress has a clock (elapsed, ETA): it changes without any new record.
  const progress = state.progress(Date.now());
  renderProgress(progress);
  renderWaiting(pastRun ? null : state.run, state.workers, progress.phase, workerUrl(location), hasToken);
  if (!overlayRunsListed && state.run !== null) {
    overlayRunsListed = true;
    listOverlayRuns();
  }
  if (state.version === drawnVersion && smoothing === drawnSmoothing && overlayState.version === drawnOverlay) return;
  const started = performance.now();
  drawnVersion = state.version;
  drawnSmoothing = smoothing;
  drawnOverlay = overlayState.version;
  sliderValue.textContent = smoothing.toFixed(2);
  charts.update(state, smoothing, overlayState.overlay);
  document.body.dataset['overlayPoints'] = String(charts.overlayPoints);
  renderWorkers(state.workers, state.lastStep, state.run);
  renderTimeline(state.timings);
  renderEvents(state.events);
  renderScores(state.epochs, state.test);
  renderSettings(state.run);
  epochView.render(state.epochs);
  renders++;
  slowestRenderMs = Math.max(slowestRenderMs, performance.now() - started);
  document.body.dataset['slowestRenderMs'] = slowestRenderMs.toFixed(1);
  // For tests and the curious: what is on screen, without scraping canvases.
  document.body.dataset['lossPoints'] = String(charts.lossPointCount);
  document.body.dataset['step'] = String(state.lastStep?.step ?? 0);
  document.body.dataset['renders'] = String(renders);
}

setInterval(render, RENDER_INTERVAL_MS);
render();

/**
 * The dashboard page: connects to the coordinator that served it, keeps the run in a
 * RunState, and redraws at most RENDER_INTERVAL_MS apart, so a burst of records (a
 * snapshot of 10,000 steps, or 50 fast steps a second) costs one redraw, not one each.
 * Read-only: the only message it ever sends is `subscribe`.
 */
import { RunState } from '../run-state.js';
import { Charts } from './charts.js';
import { connect, type ConnectionStatus } from './connection.js';
import { EpochView } from './epoch-view.js';
import { renderEvents, renderProgress, renderScores, renderSettings, renderWorkers } from './panels.js';

/** Four redraws a second at most. */
const RENDER_INTERVAL_MS = 250;
const SMOOTHING_KEY = 'convoy.smoothing';

const state = new RunState();
const charts = new Charts(document.getElementById('loss-chart')!, document.getElementById('accuracy-chart')!, () => state);
const epochView = new EpochView();
const slider = document.getElementById('smoothing') as HTMLInputElement;
const sliderValue = document.getElementById('smoothing-value')!;
const connectionBadge = document.getElementById('connection')!;
const connectionDetail = document.getElementById('connection-detail')!;

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
let drawnSmoothing = -1;
let renders = 0;
let slowestRenderMs = 0;

slider.addEventListener('input', () => {
  smoothing = Math.min(0.999, Math.max(0, Number(slider.value)));
  remember(smoothing);
});

function showStatus(status: ConnectionStatus, detail: string): void {
  connectionBadge.dataset['state'] = status;
  const text = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', refused: 'refused' }[status];
  connectionBadge.textContent = text;
  connectionBadge.title = detail;
  // A refusal says why in words (e.g. "BAD_TOKEN: wrong token": open the page with ?token=SECRET).
  connectionDetail.textContent = status === 'refused' ? detail : '';
}

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

function render(): void {
  // Progress has a clock (elapsed, ETA): it changes without any new record.
  renderProgress(state.progress(Date.now()));
  if (state.version === drawnVersion && smoothing === drawnSmoothing) return;
  const started = performance.now();
  drawnVersion = state.version;
  drawnSmoothing = smoothing;
  sliderValue.textContent = smoothing.toFixed(2);
  charts.update(state, smoothing);
  renderWorkers(state.workers);
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

/**
 * The page's text panels: progress figures, the workers table and the run settings.
 * Every cell is written with textContent (worker names come from the network), and rows
 * are updated in place so the table never flickers or shifts.
 */
import type { EpochRecord, EventRecord, RunRecord, StepLink, StepRecord, TestRecord, WorkerRow } from '@convoy/core';
import { describeSpec, formatBandwidth, formatBytes, formatCount, formatDuration, formatPercent } from '../format.js';
import { EVENT_STYLE } from '../event-style.js';
import type { Progress } from '../run-state.js';
import { joinCommand } from '../join.js';
import { describeWorkerEngine } from '../browser-runtime.js';

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

function setText(id: string, text: string): void {
  const element = byId(id);
  if (element.textContent !== text) element.textContent = text;
}

/** The newest shown first; at most this many. */
const EVENTS_SHOWN = 50;

export function renderEvents(events: readonly EventRecord[]): void {
  const list = byId<HTMLOListElement>('events');
  const newest = events.slice(-EVENTS_SHOWN).reverse();
  const key = `${events.length}:${events.at(-1)?.time ?? 0}`;
  if (list.dataset['key'] === key) return;
  list.dataset['key'] = key;
  list.replaceChildren(
    ...newest.map((event) => {
      const item = document.createElement('li');
      item.style.setProperty('--event-color', EVENT_STYLE[event.event].color);
      const when = document.createElement('span');
      when.className = 'when';
      when.textContent = `step ${formatCount(event.step)}`;
      item.append(when, `${EVENT_STYLE[event.event].label}${event.workerId === null ? '' : ` · worker ${event.workerId}`} · ${event.detail}`);
      item.title = new Date(event.time).toLocaleString();
      return item;
    }),
  );
}

export function renderScores(epochs: readonly EpochRecord[], test: TestRecord | null): void {
  const last = epochs.at(-1);
  setText('progress-validation', last === undefined ? '–' : `${formatPercent(last.validationAccuracy)} (epoch ${last.epoch})`);
  setText('progress-test', test === null ? '–' : formatPercent(test.accuracy));
}

export function renderProgress(progress: Progress): void {
  setText('progress-epoch', progress.epochs > 0 ? `${progress.epoch} / ${progress.epochs}` : '–');
  setText('progress-step', progress.totalSteps > 0 ? `${formatCount(progress.step)} / ${formatCount(progress.totalSteps)}` : formatCount(progress.step));
  setText('progress-images', formatCount(progress.imagesSeen));
  setText('progress-rate', progress.imagesPerSecond > 0 ? formatCount(progress.imagesPerSecond) : '–');
  setText('progress-elapsed', formatDuration(progress.elapsedSeconds));
  setText('progress-eta', formatDuration(progress.etaSeconds));
  setText('progress-phase', progress.phase);
  byId('progress-phase').dataset['phase'] = progress.phase;
  const fraction = progress.totalSteps > 0 ? Math.min(1, progress.step / progress.totalSteps) : 0;
  byId('progress-bar').style.width = `${(100 * fraction).toFixed(2)}%`;
}

/** The run's codec: older records have none, and everything travelled as float32 then. */
export function wireCodec(run: RunRecord | null): string {
  return run?.wire ?? 'fp32';
}

const WORKER_COLUMNS: readonly ((row: WorkerRow, link: StepLink | undefined) => string)[] = [
  (row) => String(row.id),
  (row) => row.name,
  (row) => row.address,
  (row) => row.state,
  // A worker's threads beside its engine ("wasm ×4"), where there are more than one.
  (row) => {
    const engine = describeWorkerEngine(row.kernels, row.runtime);
    return row.threads !== undefined && row.threads > 1 ? `${engine} ×${row.threads}` : engine;
  },
  (row) => (row.imagesPerSecond > 0 ? formatCount(row.imagesPerSecond) : '–'),
  (row) => (row.lastStepMs > 0 ? `${row.lastStepMs.toFixed(0)} ms` : '–'),
  (row) => formatCount(row.sliceSize),
  (row) => (row.rttMs !== undefined && row.rttMs > 0 ? `${row.rttMs.toFixed(1)} ms` : '–'),
  (row) => (row.downMbps || row.upMbps ? `${formatBandwidth(row.downMbps)} / ${formatBandwidth(row.upMbps)}` : '–'),
  (_row, link) => (link === undefined ? '–' : `${formatBytes(link.bytesDown)} / ${formatBytes(link.bytesUp)}`),
  (row) => formatBytes(row.bytesIn),
  (row) => formatBytes(row.bytesOut),
  (row) => (row.state === 'gone' ? '–' : `${(row.heartbeatAgeMs / 1000).toFixed(1)} s`),
];

const rowsById = new Map<number, HTMLTableRowElement>();

/** The workers table; `lastStep` gives each worker's bytes in the newest step (and the panel's totals). */
export function renderWorkers(workers: readonly WorkerRow[], lastStep: StepRecord | null, run: RunRecord | null): void {
  const body = byId<HTMLTableSectionElement>('workers-body');
  const links = new Map((lastStep?.links ?? []).map((link) => [link.workerId, link]));
  const sorted = [...workers].sort((a, b) => a.id - b.id);
  const present = new Set(sorted.map((row) => row.id));
  for (const [id, element] of rowsById) {
    if (!present.has(id)) {
      element.remove();
      rowsById.delete(id);
    }
  }
  for (const worker of sorted) {
    let element = rowsById.get(worker.id);
    if (element === undefined) {
      element = document.createElement('tr');
      for (let i = 0; i < WORKER_COLUMNS.length; i++) element.appendChild(document.createElement('td'));
      rowsById.set(worker.id, element);
    }
    body.appendChild(element); // keeps id order; moving a node that is already last is a no-op
    element.dataset['workerId'] = String(worker.id);
    element.dataset['state'] = worker.state;
    // The columns a narrow window hides (address, bytes, heartbeat) stay one hover away.
    const measured = worker.rttMs !== undefined && worker.rttMs > 0;
    const linkText = measured ? ` · round trip ${worker.rttMs!.toFixed(1)} ms, down ${formatBandwidth(worker.downMbps)}, up ${formatBandwidth(worker.upMbps)}` : '';
    const title = `${worker.name} at ${worker.address} · in ${formatBytes(worker.bytesIn)}, out ${formatBytes(worker.bytesOut)}${linkText}`;
    if (element.title !== title) element.title = title;
    WORKER_COLUMNS.forEach((column, i) => {
      const cell = element.children[i]!;
      const text = column(worker, links.get(worker.id));
      if (cell.textContent !== text) cell.textContent = text;
    });
  }
  const live = workers.filter((row) => row.state !== 'gone').length;
  setText('workers-count', `${live} live${workers.length > live ? `, ${workers.length - live} gone` : ''}`);
  byId('workers-empty').hidden = workers.length > 0;
  const perStep = lastStep?.bytesDown === undefined ? '' : ` · ${formatBytes(lastStep.bytesDown)} down, ${formatBytes(lastStep.bytesUp ?? 0)} up per step`;
  setText('links-summary', `wire ${wireCodec(run)}${perStep}`);
}

/**
 * The waiting page: shown while the run is known and no step has run yet. It says how
 * many workers training waits for and the exact command to join with (the coordinator's
 * own, from the run record; older records: built from this page's address).
 */
export function renderWaiting(run: RunRecord | null, workers: readonly WorkerRow[], phase: Progress['phase'], url: string, token: boolean): void {
  const panel = byId('waiting');
  const shown = run !== null && phase === 'waiting';
  if (panel.hidden === shown) panel.hidden = !shown;
  if (!shown) return;
  const live = workers.filter((row) => row.state !== 'gone').length;
  const needed = run.minWorkers;
  setText('waiting-title', needed === undefined ? 'Waiting for workers' : `Waiting for ${needed} worker${needed === 1 ? '' : 's'} (${live} joined)`);
  setText(
    'waiting-text',
    needed === undefined
      ? `${live} worker${live === 1 ? ' has' : 's have'} joined. Training starts when enough workers have joined.`
      : `Training starts when ${needed} worker${needed === 1 ? ' has' : 's have'} joined${live >= needed ? ' (starting…)' : `: ${needed - live} more needed`}.`,
  );
  setText('join-command', run.joinCommand ?? joinCommand(url, token));
  setText('join-url', url);
}

export function renderSettings(run: RunRecord | null): void {
  const list = byId<HTMLDListElement>('settings');
  const key = run === null ? '' : run.runId;
  if (list.dataset['runId'] === key) return;
  list.dataset['runId'] = key;
  list.replaceChildren();
  setText('run-id', run === null ? 'waiting for the run…' : run.runId);
  if (run === null) return;
  const optimizer = Object.entries(run.optimizer)
    .filter(([name]) => name !== 'name')
    .map(([name, value]) => `${name} ${String(value)}`)
    .join(', ');
  const entries: [string, string][] = [
    ['model', describeSpec(run.spec)],
    ['parameters', formatCount(run.paramCount)],
    ['optimizer', `${String(run.optimizer['name'] ?? '?')}${optimizer ? ` (${optimizer})` : ''}`],
    ['global batch', formatCount(run.globalBatch)],
    ['epochs', `${run.epochs} × ${formatCount(run.stepsPerEpoch)} steps = ${formatCount(run.totalSteps)} steps`],
    ['seed', String(run.seed)],
    ['images', `train ${formatCount(run.trainSize)}, validation ${formatCount(run.validationSize)}, test ${formatCount(run.testSize)}`],
    ['coordinator kernels', run.kernels],
    ['wire codec', `${wireCodec(run)}${run.overlap === true ? ', overlapped with compute (--overlap)' : ''}`],
    ['workers', `${run.localWorkers > 0 ? `${run.localWorkers} local processes (others may join)` : 'remote workers'}${run.minWorkers === undefined ? '' : `; training waits for ${run.minWorkers}`}`],
    ['join with', run.joinCommand ?? '–'],
    ['resumed from', run.resumedFromStep > 0 ? `step ${formatCount(run.resumedFromStep)}` : 'fresh run'],
    ['run folder', run.outDir],
    ['started', new Date(run.startTime).toLocaleString()],
  ];
  for (const [name, value] of entries) {
    const term = document.createElement('dt');
    term.textContent = name;
    const description = document.createElement('dd');
    description.textContent = value;
    list.append(term, description);
  }
}

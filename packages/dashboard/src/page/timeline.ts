/**
 * The step timeline panel: the newest steps drawn back to back, one row for the coordinator
 * and one per worker, each split into its phases as core's timeline.ts lays them out (the
 * same layout `convoy trace` writes); below it each worker's straggler score (its step time
 * against the fastest worker's, over the newest steps), CPU and memory.
 */
import {
  COORDINATOR_SEGMENTS,
  WORKER_SEGMENTS,
  coordinatorSegments,
  stragglerScores,
  workerSegments,
  workersOf,
  type CoordinatorSegmentName,
  type TimingRecord,
  type WorkerSegmentName,
} from '@convoy/core';
import { formatBytes } from '../format.js';

/** Steps drawn side by side. */
const STEPS_SHOWN = 6;
/** Steps the straggler scores average over. */
const SCORE_WINDOW = 20;
/** A worker this many times slower than the fastest is called a straggler (below, the spread is noise). */
export const STRAGGLER_SCORE = 1.25;
const ROW_HEIGHT = 18;
const ROW_GAP = 4;
const LABEL_WIDTH = 92;
const STEP_GAP = 8;

const COLORS: Readonly<Record<WorkerSegmentName | CoordinatorSegmentName, string>> = {
  idle: '#e9ecef',
  'to worker': '#adb5bd',
  decode: '#74c0fc',
  compute: '#1f6fb5',
  encode: '#f08c00',
  send: '#ffd43b',
  'to coordinator': '#868e96',
  wait: '#dbe4ff',
  'wait for answers': '#ced4da',
  sum: '#2b8a3e',
  optimizer: '#862e9c',
  publish: '#e64980',
};

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

let legendDrawn = false;

function drawLegend(): void {
  if (legendDrawn) return;
  legendDrawn = true;
  const names = [...new Set<WorkerSegmentName | CoordinatorSegmentName>([...WORKER_SEGMENTS, ...COORDINATOR_SEGMENTS])];
  byId('timeline-legend').replaceChildren(
    ...names.map((name) => {
      const item = document.createElement('span');
      item.className = 'swatch';
      item.style.setProperty('--swatch', COLORS[name]);
      item.textContent = name;
      return item;
    }),
  );
}

/** Draws `shown` (the newest steps); returns the number of worker rows. */
function drawTimeline(canvas: HTMLCanvasElement, shown: readonly TimingRecord[], all: readonly TimingRecord[]): number {
  const workers = [...new Set(shown.flatMap((record) => workersOf(record)))].sort((a, b) => a - b);
  const rows = ['coordinator', ...workers.map((id) => `worker ${id}`)];
  const width = Math.max(300, canvas.parentElement?.clientWidth ?? 600);
  const height = rows.length * (ROW_HEIGHT + ROW_GAP) + 22;
  const scale = devicePixelRatio;
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const context = canvas.getContext('2d')!;
  context.scale(scale, scale);
  context.clearRect(0, 0, width, height);
  context.font = '12px sans-serif';
  context.textBaseline = 'middle';
  rows.forEach((label, row) => {
    context.fillStyle = '#495057';
    context.fillText(label, 4, row * (ROW_HEIGHT + ROW_GAP) + ROW_HEIGHT / 2);
  });
  const totalMs = shown.reduce((sum, record) => sum + record.stepMs, 0);
  const plotWidth = width - LABEL_WIDTH - STEP_GAP * shown.length;
  const pixelsPerMs = totalMs > 0 ? plotWidth / totalMs : 0;
  let x = LABEL_WIDTH;
  const bar = (row: number, startMs: number, durationMs: number, color: string): void => {
    if (durationMs <= 0) return;
    context.fillStyle = color;
    context.fillRect(x + startMs * pixelsPerMs, row * (ROW_HEIGHT + ROW_GAP), Math.max(0.5, durationMs * pixelsPerMs), ROW_HEIGHT);
  };
  for (const record of shown) {
    for (const segment of coordinatorSegments(record)) bar(0, segment.startMs, segment.durationMs, COLORS[segment.name]);
    const index = all.indexOf(record);
    const next = all[index + 1]?.step === record.step + 1 ? all[index + 1]! : null;
    workers.forEach((workerId, i) => {
      if (!record.workers.some((entry) => entry.workerId === workerId)) return;
      for (const segment of workerSegments(record, workerId, next)) bar(i + 1, segment.startMs, segment.durationMs, COLORS[segment.name]);
    });
    context.fillStyle = '#6c757d';
    context.fillText(`step ${record.step} · ${record.stepMs.toFixed(0)} ms`, x + 2, height - 9);
    x += record.stepMs * pixelsPerMs + STEP_GAP;
  }
  return workers.length;
}

const SCORE_COLUMNS = ['worker', 'steps', 'mean step', 'straggler score', 'CPU', 'memory'] as const;

function renderScores(records: readonly TimingRecord[]): void {
  const body = byId<HTMLTableSectionElement>('stragglers-body');
  const scores = stragglerScores(records.slice(-SCORE_WINDOW));
  const top = scores.at(-1);
  body.replaceChildren(
    ...scores.map((score) => {
      const usage = [...records].reverse().flatMap((record) => record.workers).find((entry) => entry.workerId === score.workerId && entry.phases !== null)?.phases ?? null;
      const straggler = scores.length > 1 && score === top && score.score >= STRAGGLER_SCORE;
      const cells: Record<(typeof SCORE_COLUMNS)[number], string> = {
        worker: `${score.workerId}${straggler ? ' · straggler' : ''}`,
        steps: String(score.steps),
        'mean step': `${score.meanStepMs.toFixed(1)} ms`,
        'straggler score': `${score.score.toFixed(2)}×`,
        CPU: usage === null ? '–' : `${usage.cpuPercent.toFixed(0)}%`,
        memory: usage === null ? '–' : formatBytes(usage.rssBytes),
      };
      const row = document.createElement('tr');
      row.dataset['workerId'] = String(score.workerId);
      row.dataset['score'] = score.score.toFixed(3);
      if (straggler) row.dataset['straggler'] = 'true';
      for (const column of SCORE_COLUMNS) {
        const cell = document.createElement('td');
        cell.textContent = cells[column];
        row.append(cell);
      }
      return row;
    }),
  );
  document.body.dataset['straggler'] = top !== undefined && scores.length > 1 && top.score >= STRAGGLER_SCORE ? String(top.workerId) : '';
}

/** Redraws the panel from the newest timing records (oldest first). */
export function renderTimeline(timings: readonly TimingRecord[]): void {
  drawLegend();
  byId('timeline-empty').hidden = timings.length > 0;
  byId('timeline-body').hidden = timings.length === 0;
  if (timings.length === 0) return;
  const workerRows = drawTimeline(byId<HTMLCanvasElement>('timeline'), timings.slice(-STEPS_SHOWN), timings);
  renderScores(timings);
  // What is drawn, for tests (a canvas cannot be read back as rows).
  document.body.dataset['timelineSteps'] = String(Math.min(STEPS_SHOWN, timings.length));
  document.body.dataset['timelineWorkers'] = String(workerRows);
}

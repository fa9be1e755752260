/**
 * A finished run's curves laid over the live ones: the loss panel's select lists the runs
 * folder's other runs (/runs.json); picking one fetches its history (/runs/NAME/history.json,
 * checked record by record like any past run) and the charts draw its training curve (with
 * the same EMA smoothing) and its validation points, dashed, beside the live run's.
 */
import type { History } from '../history-export.js';
import { parseHistoryDocument } from '../past-run.js';
import { RUNS_JSON } from '../runs-json.js';

export interface Overlay {
  readonly name: string;
  readonly history: History;
}

interface RunEntry {
  readonly name: string;
  readonly current: boolean;
  readonly lastStep: number | null;
  readonly end: string | null;
}

/** The overlay in use (null: none) and a counter bumped at every change, for the page's redraw check. */
export const overlayState: { overlay: Overlay | null; version: number } = { overlay: null, version: 0 };

function isRunList(value: unknown): value is RunEntry[] {
  return Array.isArray(value) && value.every((entry) => typeof entry === 'object' && entry !== null && typeof (entry as RunEntry).name === 'string');
}

async function listRuns(select: HTMLSelectElement): Promise<void> {
  const response = await fetch(RUNS_JSON);
  if (!response.ok) return; // a coordinator without a runs folder: nothing to overlay
  const runs: unknown = await response.json();
  if (!isRunList(runs)) return;
  const chosen = select.value;
  const none = document.createElement('option');
  none.value = '';
  none.textContent = 'overlay: none';
  select.replaceChildren(
    none,
    ...runs
      .filter((run) => !run.current)
      .map((run) => {
        const option = document.createElement('option');
        option.value = run.name;
        option.textContent = `${run.name}${run.lastStep === null ? '' : ` (${run.lastStep} steps${run.end === null ? '' : `, ${run.end}`})`}`;
        return option;
      }),
  );
  select.value = chosen;
  select.hidden = runs.every((run) => run.current);
}

async function load(name: string): Promise<void> {
  if (name === '') {
    overlayState.overlay = null;
  } else {
    const response = await fetch(`/runs/${encodeURIComponent(name)}/history.json`);
    if (!response.ok) throw new Error(`${response.status} ${(await response.text()).trim()}`);
    overlayState.overlay = { name, history: parseHistoryDocument(await response.json()) };
  }
  overlayState.version++;
  document.body.dataset['overlay'] = name;
}

/**
 * Wires the select and returns what reads the list of runs: the page calls it once the run is
 * known (a page refused for its token asks for nothing more), and it runs again each time the
 * select is opened (runs finish meanwhile).
 */
export function setUpOverlay(select: HTMLSelectElement, status: HTMLElement): () => void {
  const refresh = () => void listRuns(select).catch(() => undefined);
  select.addEventListener('focus', refresh);
  select.addEventListener('change', () => {
    status.textContent = '';
    load(select.value).catch((error: Error) => {
      status.textContent = `cannot overlay ${select.value}: ${error.message}`;
      select.value = '';
    });
  });
  return refresh;
}

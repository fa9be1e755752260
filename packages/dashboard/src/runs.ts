/**
 * The runs folder (the parent of the run's own folder, e.g. runs/): the past runs beside
 * the current one, each opened from its history.jsonl. A name from a URL reaches the
 * disk only as a direct child of the runs folder that a directory listing returned, so
 * no path (../, an absolute path, an encoded slash) can point anywhere else.
 */
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { EndRecord, TestRecord } from '@convoy/core';
import { parseRecord } from './past-run.js';

export const RUN_HISTORY_FILE = 'history.jsonl';
/** The end of history.jsonl read for the list's summary (the end, test and last epoch records). */
const TAIL_BYTES = 64 * 1024;

export interface RunSummary {
  readonly name: string;
  /** history.jsonl's last write, ms since the epoch. */
  readonly modified: number;
  readonly end: EndRecord | null;
  readonly lastStep: number | null;
  readonly validationAccuracy: number | null;
  readonly test: TestRecord | null;
}

/** A plain folder name: no separator, no NUL, not . or .. (the listing check below is what makes it safe; this keeps errors clear). */
export function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name) && name.length <= 255;
}

/**
 * The folder of run `name` when it is a direct child of `runsDir` holding a history.jsonl,
 * else null. A symbolic link (runs/latest) counts when it points at another direct child.
 */
export async function resolveRun(runsDir: string, name: string): Promise<string | null> {
  if (!isPlainName(name)) return null;
  let entries;
  try {
    entries = await readdir(runsDir, { withFileTypes: true });
  } catch {
    return null;
  }
  const entry = entries.find((candidate) => candidate.name === name);
  if (entry === undefined || !(entry.isDirectory() || entry.isSymbolicLink())) return null;
  try {
    const root = await realpath(runsDir);
    const target = await realpath(join(runsDir, entry.name));
    if (dirname(target) !== root) return null;
    if (!(await stat(target)).isDirectory()) return null;
    if (!(await stat(join(target, RUN_HISTORY_FILE))).isFile()) return null;
    return target;
  } catch {
    return null;
  }
}

async function tail(path: string, bytes: number): Promise<string> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    await file.read(buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    await file.close();
  }
}

/** The run folders (real directories with a history.jsonl; links are aliases, not listed), newest first. */
export async function listRuns(runsDir: string): Promise<RunSummary[]> {
  let entries;
  try {
    entries = await readdir(runsDir, { withFileTypes: true });
  } catch {
    return [];
  }
  const summaries: RunSummary[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const history = join(runsDir, entry.name, RUN_HISTORY_FILE);
    let modified: number;
    try {
      const info = await stat(history);
      if (!info.isFile()) continue;
      modified = info.mtimeMs;
    } catch {
      continue;
    }
    let end: EndRecord | null = null;
    let test: TestRecord | null = null;
    let lastStep: number | null = null;
    let validationAccuracy: number | null = null;
    // The first line of the tail may be cut: every line that does not parse is skipped.
    for (const line of (await tail(history, TAIL_BYTES).catch(() => '')).split('\n')) {
      try {
        const record = parseRecord(JSON.parse(line), 'line');
        if (record.kind === 'end') end = record;
        else if (record.kind === 'run') end = null;
        else if (record.kind === 'test') test = record;
        else if (record.kind === 'epoch') validationAccuracy = record.validationAccuracy;
        if (record.kind === 'step' || record.kind === 'epoch' || record.kind === 'end') lastStep = Math.max(lastStep ?? 0, record.step);
      } catch {
        // a cut or blank line
      }
    }
    summaries.push({ name: entry.name, modified, end, lastStep, validationAccuracy, test });
  }
  return summaries.sort((a, b) => b.modified - a.modified || a.name.localeCompare(b.name));
}

function escapeHtml(text: string): string {
  return text.replace(/[<>&"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

const percent = (fraction: number | null): string => (fraction === null ? '–' : `${(100 * fraction).toFixed(2)}%`);

/** The /runs page: plain HTML (no script), the dashboard's stylesheet. */
export function renderRunsPage(runsDir: string, runs: readonly RunSummary[], current: string | null): string {
  const rows = runs.map((run) => {
    const href = run.name === current ? '/' : `/runs/${encodeURIComponent(run.name)}/`;
    const state = run.name === current ? 'current run (live)' : run.end === null ? 'no end record (killed, or still running elsewhere)' : run.end.reason;
    return (
      `<tr${run.name === current ? ' class="current"' : ''}><td><a href="${escapeHtml(href)}">${escapeHtml(run.name)}</a></td>` +
      `<td>${escapeHtml(new Date(run.modified).toISOString().replace('T', ' ').slice(0, 19))} UTC</td><td>${escapeHtml(state)}</td>` +
      `<td class="num">${run.lastStep === null ? '–' : run.lastStep.toLocaleString('en-US')}</td>` +
      `<td class="num">${percent(run.validationAccuracy)}</td><td class="num">${percent(run.test?.accuracy ?? null)}</td></tr>`
    );
  });
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>Convoy runs</title><link rel="icon" href="/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/dashboard.css"></head>',
    '<body><header class="top"><h1>Convoy</h1><span class="run-id">runs</span><span class="spacer"></span><a href="/">live run</a></header>',
    `<main class="runs-page"><section class="panel"><div class="panel-head"><h2>Runs in ${escapeHtml(runsDir)}</h2></div>`,
    runs.length === 0
      ? '<p class="empty">No run folder with a history.jsonl here.</p>'
      : `<table id="runs"><thead><tr><th>run</th><th>last written</th><th>state</th><th class="num">last step</th><th class="num">validation</th><th class="num">test</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`,
    '</section></main></body></html>',
    '',
  ].join('\n');
}

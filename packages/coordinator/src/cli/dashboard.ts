/**
 * Mounts packages/dashboard on the coordinator's HTTP port when it is installed, and
 * writes the run's history plot (history.svg) at the end. Loaded dynamically, so a
 * coordinator without the dashboard still runs (it then serves a plain page). The runs
 * folder the dashboard lists past runs from is the run folder's parent (runs/ by default).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { SnapshotMessage } from '@convoy/core';
import type { Coordinator } from '../coordinator.js';
import type { MetricsHub } from '../metrics.js';
import type { HttpHandler } from '../transport.js';

type History = Omit<SnapshotMessage, 'type'>;

interface DashboardModule {
  createDashboardRequestHandler?: (options: { history?: () => History; liveHistory?: () => History; runsDir?: string; currentRun?: string }) => HttpHandler;
  renderHistorySvg?: (history: History) => string;
  parseHistoryJsonl?: (text: string) => History;
}

async function loadDashboard(): Promise<DashboardModule> {
  try {
    return (await import('@convoy/dashboard')) as unknown as DashboardModule;
  } catch {
    return {};
  }
}

/**
 * The run's whole history: steps, epochs and events from history.jsonl (the metrics hub
 * keeps a bounded, thinned copy), the rest (the run as it stands, workers, end) from the hub.
 * Without a parser, or with a file it cannot read, the hub's copy.
 */
export function fullHistory(metrics: MetricsHub, historyPath: string, parse: ((text: string) => History) | undefined): History {
  const { type: _type, ...live } = metrics.snapshot();
  if (parse === undefined) return live;
  let saved: History;
  try {
    saved = parse(readFileSync(historyPath, 'utf8'));
  } catch {
    return live;
  }
  return { ...live, steps: saved.steps, epochs: saved.epochs, events: saved.events };
}

function history(coordinator: Coordinator, dashboard: DashboardModule): History {
  return fullHistory(coordinator.metrics, coordinator.folder.historyPath, dashboard.parseHistoryJsonl);
}

export async function mountDashboard(coordinator: Coordinator): Promise<boolean> {
  const dashboard = await loadDashboard();
  if (dashboard.createDashboardRequestHandler === undefined) return false;
  const folder = coordinator.folder.dir;
  coordinator.transport.httpHandler = dashboard.createDashboardRequestHandler({
    history: () => history(coordinator, dashboard),
    // The hub's bounded copy: the downloads' cache compares it, reading history.jsonl only to build.
    liveHistory: () => {
      const { type: _type, ...live } = coordinator.metrics.snapshot();
      return live;
    },
    runsDir: dirname(folder),
    currentRun: basename(folder),
  });
  return true;
}

/** history.svg in the run folder, as the seed project saved its history plot. */
export async function writeHistoryPlot(coordinator: Coordinator): Promise<string | null> {
  const dashboard = await loadDashboard();
  if (dashboard.renderHistorySvg === undefined) return null;
  const path = join(coordinator.folder.dir, 'history.svg');
  writeFileSync(path, dashboard.renderHistorySvg(history(coordinator, dashboard)));
  return path;
}

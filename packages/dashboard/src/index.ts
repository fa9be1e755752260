// Convoy's dashboard: the Node side (the request handler the coordinator mounts, the
// history files) and the page's pure logic, unit-tested in Node. The page itself is
// src/page/, bundled by build.mjs into dist/.
export { createDashboardRequestHandler, dashboardAssets, DEFAULT_DIST_DIR, CONTENT_SECURITY_POLICY, WORKER_CONTENT_SECURITY_POLICY, WORKER_PAGE_PATHS } from './http.js';
export { browserRuntime, describeWorkerEngine, isBrowserRuntime } from './browser-runtime.js';
export type { DashboardAsset, DashboardHandlerOptions, DashboardRequestHandler } from './http.js';
export { historyToCsv, historyToJson, CSV_COLUMNS } from './history-export.js';
export type { History } from './history-export.js';
export { renderHistorySvg, niceTicks, finalNumbers } from './history-svg.js';
export { parseHistoryJsonl, parseHistoryDocument, historyFromRecords } from './past-run.js';
export { listRuns, resolveRun, RUN_HISTORY_FILE } from './runs.js';
export type { RunSummary } from './runs.js';
export { emaSmooth } from './smoothing.js';
export { BoundedSeries, minMaxDownsample, SERIES_DEFAULTS } from './downsample.js';
export type { BoundedSeriesOptions } from './downsample.js';
export { RunState, estimatePriorSeconds } from './run-state.js';
export type { Progress, RunPhase } from './run-state.js';
export { formatBytes, formatCount, formatDuration, describeSpec } from './format.js';

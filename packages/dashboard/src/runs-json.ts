/** Where the runs folder's list is served as JSON (http.ts) and read by the page's overlay (page/overlay.ts). */
export const RUNS_JSON = '/runs.json';

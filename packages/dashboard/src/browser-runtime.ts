/**
 * What a browser worker says about itself in hello: its runtime label ("chrome 131") from
 * the user agent. Pure, so it is unit-tested in Node; the page's Web Worker calls it.
 */

/** Engines by the user-agent token that names them, most specific first (Edge and Chrome both say "Chrome/"). */
const ENGINES: readonly (readonly [RegExp, string])[] = [
  [/\bEdg\/(\d+)/, 'edge'],
  [/\bFirefox\/(\d+)/, 'firefox'],
  [/\b(?:Headless)?Chrom(?:e|ium)\/(\d+)/, 'chrome'],
  [/\bVersion\/(\d+)(?:\.\d+)*.*\bSafari\//, 'safari'],
];

/** "chrome 131", "firefox 128", "safari 17", or "browser" when the agent names none of them. */
export function browserRuntime(userAgent: string): string {
  for (const [pattern, name] of ENGINES) {
    const major = pattern.exec(userAgent)?.[1];
    if (major !== undefined) return `${name} ${major}`;
  }
  return 'browser';
}

/** True for a runtime label a browser sends (the Node worker's reads "node ..."). */
export function isBrowserRuntime(runtime: string | undefined): boolean {
  return runtime !== undefined && !runtime.startsWith('node ');
}

/** The workers table's kernels cell: the backend, then where it runs ("wasm · chrome 131 (browser)"). */
export function describeWorkerEngine(kernels: string, runtime: string | undefined): string {
  if (runtime === undefined) return kernels;
  return `${kernels} · ${runtime}${isBrowserRuntime(runtime) ? ' (browser)' : ''}`;
}

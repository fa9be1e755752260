// Builds the page into dist/: the bundled script (the page's TypeScript, the protocol codec
// and parser from @convoy/core, resolved as any package: its main entry is browser-safe and
// `"sideEffects": false` lets the bundle keep only what the page uses, and uPlot), one
// stylesheet (uPlot's and ours), the HTML and the icon; and the browser worker's page
// (worker.html, worker.js, its Web Worker compute-worker.js, core's wasm kernels). Run by `pnpm build` (turbo) before
// tests and `pnpm start`.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const require = createRequire(import.meta.url);
mkdirSync(dist, { recursive: true });

const bundles = [
  ['src/page/main.ts', 'dashboard.js'],
  // The browser worker's page (/worker) and its Web Worker, which bundles @convoy/worker's ComputeEngine.
  ['src/page/worker/page.ts', 'worker.js'],
  ['src/page/worker/compute-worker.ts', 'compute-worker.js'],
];
await Promise.all(bundles.map(([entry, outfile]) => build({
  entryPoints: [join(here, entry)],
  outfile: join(dist, outfile),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome109', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: false,
  legalComments: 'eof',
  logLevel: 'warning',
})));

const uplotCss = readFileSync(join(dirname(require.resolve('uplot')), 'uPlot.min.css'), 'utf8');
writeFileSync(join(dist, 'dashboard.css'), `${uplotCss}\n${readFileSync(join(here, 'static/style.css'), 'utf8')}`);
copyFileSync(join(here, 'static/index.html'), join(dist, 'index.html'));
copyFileSync(join(here, 'static/favicon.svg'), join(dist, 'favicon.svg'));
copyFileSync(join(here, 'static/worker.html'), join(dist, 'worker.html'));
// The wasm kernels the worker page fetches: core's build/ folder (turbo builds core first).
// NOTE: the names are core's wasmFileName() of each variant (a TypeScript module this script cannot import).
const coreBuild = join(dirname(require.resolve('@convoy/core')), '..', 'build');
for (const file of ['kernels-relaxed.wasm', 'kernels-simd.wasm']) copyFileSync(join(coreBuild, file), join(dist, file));

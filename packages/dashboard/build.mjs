// Builds the page into dist/: the bundled script (the page's TypeScript, the protocol codec
// and parser from @convoy/core, resolved as any package: its main entry is browser-safe and
// `"sideEffects": false` lets the bundle keep only what the page uses, and uPlot), one
// stylesheet (uPlot's and ours), the HTML and the icon. Run by `pnpm build` (turbo) before
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

await build({
  entryPoints: [join(here, 'src/page/main.ts')],
  outfile: join(dist, 'dashboard.js'),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome109', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: false,
  legalComments: 'eof',
  logLevel: 'warning',
});

const uplotCss = readFileSync(join(dirname(require.resolve('uplot')), 'uPlot.min.css'), 'utf8');
writeFileSync(join(dist, 'dashboard.css'), `${uplotCss}\n${readFileSync(join(here, 'static/style.css'), 'utf8')}`);
copyFileSync(join(here, 'static/index.html'), join(dist, 'index.html'));
copyFileSync(join(here, 'static/favicon.svg'), join(dist, 'favicon.svg'));

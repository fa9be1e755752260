/**
 * Makes docs/dashboard.png: a real run of the default model (a subset of MNIST, three
 * worker processes, one of them killed with SIGKILL partway so the picture shows a death
 * mark and a gone row), photographed by Chromium in the middle of its second epoch.
 *
 *   pnpm build && pnpm exec tsx packages/dashboard/scripts/screenshot.ts [out.png]
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, launchChromium, startCoordinator, startWorker, tempDir } from '../../../tests/dashboard/processes.js';

const out = process.argv[2] ?? join(ROOT, 'docs', 'dashboard.png');
const dir = tempDir('screenshot');
const coordinator = await startCoordinator([
  '--port', '0', '--min-workers', '2', '--model', 'default', '--kernels', 'auto', '--out', join(dir, 'run'),
  '--train-size', '9600', '--validation-size', '1000', '--test-size', '1000', '--batch', '64', '--epochs', '3', '--seed', '1',
]);
const workers = [startWorker(coordinator.port, 'laptop-a'), startWorker(coordinator.port, 'laptop-b')];
const context = await launchChromium();
try {
  const page = await context.newPage();
  await page.setViewportSize({ width: 1440, height: 1100 });
  await page.goto(`http://127.0.0.1:${coordinator.port}/`);
  const stepAtLeast = (step: number) => page.waitForFunction((target) => Number(document.body.dataset['step']) >= target, step, { timeout: 600_000 });
  await stepAtLeast(60);
  workers.push(startWorker(coordinator.port, 'desktop-c'));
  await stepAtLeast(110);
  await workers[1]!.kill();
  await stepAtLeast(150 + 40); // an epoch is 150 steps: the confusion matrix is there
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await context.close();
  for (const worker of workers) await worker.kill();
  await coordinator.kill();
  rmSync(dir, { recursive: true, force: true });
}

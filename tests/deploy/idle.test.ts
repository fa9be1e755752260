/**
 * The coordinator's container on a finished run (deploy/kubernetes/coordinator.yaml): its
 * command idles, and a deletion (SIGTERM) ends it, with everything it started, at once.
 * Run as pods.ts runs a pod, without a network namespace (no root needed).
 *
 * NOTE: the SIGTERM is sent the moment the idle line appears, many times over: an earlier
 * idle loop (`sleep 3600 & wait $!`, a trap killing $!) left its sleep running, orphaned and
 * holding the container's output open, in a few percent of such deletions.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { tempDir } from '../support/processes.js';
import { findObject, renderedObjects, type Deployment } from './manifests.js';
import { Pod } from './pods.js';

const DELETIONS = 24;
const AT_ONCE = 8;

describe('the coordinator container on a finished run', () => {
  it(`idles, and each of ${DELETIONS} deletions right after it says so ends it (nothing left running) within 3 s`, async () => {
    const deployment = findObject<Deployment>(renderedObjects(), 'Deployment', 'convoy-coordinator');
    const dir = tempDir('idle');
    const runs = join(dir, 'runs');
    const runDir = join(runs, 'convoy');
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, 'history.jsonl'), '{"kind":"step","step":1}\n{"kind":"end","reason":"finished","step":1,"detail":"1 steps"}\n');
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const slowest: number[] = [];
    for (let round = 0; round < DELETIONS / AT_ONCE; round++) {
      const deletions = Array.from({ length: AT_ONCE }, async (_, i) => {
        const name = `convoy-coordinator-${round}-${i}`;
        const tmp = join(dir, name);
        mkdirSync(tmp);
        const pod = new Pod(name, deployment, { ns: null, volumes: { runs, tmp }, secrets: { 'convoy-token': { token: 'idle-test' } } });
        try {
          pod.start();
          await pod.current.waitFor(/has finished; idle/, 30_000);
          // The pod's grace period would cover a hang, so the bound is the test's own: 3 s.
          const deleted = await Promise.race([pod.delete(), new Promise<null>((resolve) => setTimeout(() => resolve(null), 3_000))]);
          expect(deleted, `${name} did not end within 3 s of its SIGTERM:\n${pod.output()}`).not.toBeNull();
          expect(deleted!.exit).toBe(0);
          expect(pod.runs).toHaveLength(1);
          expect(pod.leftBehind, `${name} left a process running after its end`).toBe(0);
          return deleted!.ms;
        } finally {
          await pod.kill();
        }
      });
      slowest.push(Math.max(...(await Promise.all(deletions))));
    }
    expect(Math.max(...slowest)).toBeLessThan(3_000);
  }, 120_000);
});

/**
 * Settings that can never train are refused at start with one line and exit code 2
 * (issue 18, finding 14): a model whose input is not the dataset's image shape, a softmax
 * whose units are not the dataset's classes, and a heartbeat the workers would refuse.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { OPTION_RANGES, resolveOptions } from '../../packages/coordinator/src/defaults.js';
import { DEFAULT_LIMITS, MNIST_CNN, PROTOCOL_VERSION, parseMessage } from '../../packages/core/src/index.js';
import { SMALL_SPEC, smallRunArgs, writeSpec } from './helpers.js';
import { COORDINATOR_CLI, run, tempDir } from '../support/processes.js';

const dir = tempDir('settings');

/** SMALL_SPEC with another input shape or another softmax width. */
function specWith(name: string, change: { readonly input?: readonly number[]; readonly units?: number }): string {
  const layers = SMALL_SPEC.layers.map((layer) => (layer.type === 'dense' && change.units !== undefined ? { ...layer, units: change.units } : layer));
  return writeSpec(tempDir(`settings-${name}`), { ...SMALL_SPEC, input: change.input ?? SMALL_SPEC.input, layers });
}

async function refusal(args: readonly string[]): Promise<string> {
  const proc = run(COORDINATOR_CLI, ['--port', '0', ...args]);
  // A coordinator that wrongly accepts the settings waits for workers forever.
  onTestFinished(() => void proc.kill());
  expect(await proc.exited, proc.output()).toBe(2);
  const output = proc.output().trim();
  expect(output.split('\n'), output).toHaveLength(1);
  expect(output).not.toMatch(/\n\s+at /);
  return output;
}

describe('a model that does not fit the dataset is refused at start', () => {
  it.each([
    ['input [1,32,32] for 28x28 grey images', { input: [1, 32, 32] }, /the input is \[1,32,32\], the dataset's images are \[1,28,28\]/],
    ['input [3,28,28] for 28x28 grey images', { input: [3, 28, 28] }, /the input is \[3,28,28\], the dataset's images are \[1,28,28\]/],
    ['a 5-unit softmax for 10 labels', { units: 5 }, /the softmax has 5 units, the dataset has 10 classes/],
  ] as const)('%s: one line, exit 2, no run folder', async (_name, change, pattern) => {
    const out = join(dir, `out-${Object.keys(change)[0]}-${Math.random().toString(36).slice(2)}`);
    const output = await refusal(smallRunArgs(specWith('bad', change), out));
    expect(output).toMatch(pattern);
    expect(existsSync(out)).toBe(false);
  }, 20_000);
});

describe('one heartbeat range for coordinator and workers (core HEARTBEAT_MS_LIMITS)', () => {
  it('--heartbeat 80 is refused by the coordinator at start', async () => {
    expect(await refusal(['--heartbeat', '80'])).toMatch(/--heartbeat.*'80'.*must be an integer in \[100, 3600000\]/);
  }, 20_000);

  it('every heartbeat the coordinator accepts, a worker accepts in welcome, and the first refused by one is refused by both', () => {
    const welcome = (heartbeatMs: number) => ({
      type: 'welcome', protocol: PROTOCOL_VERSION, workerId: 1, spec: MNIST_CNN, paramCount: 1, datasetHash: 'x', sendingDataset: false, heartbeatMs,
    });
    const range = OPTION_RANGES.heartbeatMs;
    for (const inside of [range.min, range.max]) {
      expect(resolveOptions({ heartbeatMs: inside }).heartbeatMs).toBe(inside);
      expect(() => parseMessage(welcome(inside), DEFAULT_LIMITS)).not.toThrow();
    }
    for (const outside of [range.min - 1, range.max + 1]) {
      expect(() => resolveOptions({ heartbeatMs: outside })).toThrow(/heartbeatMs/);
      expect(() => parseMessage(welcome(outside), DEFAULT_LIMITS)).toThrow(/heartbeatMs/);
    }
    expect(range.min).toBe(100);
  });
});

/**
 * Helpers for the across-hosts test: network namespaces from scripts/netns/setup.sh and
 * processes started inside them with `ip netns exec`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, run, type Proc } from '../support/processes.js';

export const SETUP = join(ROOT, 'scripts/netns/setup.sh');
export const TEARDOWN = join(ROOT, 'scripts/netns/teardown.sh');
export const RELAY = join(ROOT, 'scripts/netns/delay-relay.mjs');

/** Why namespaces cannot be made here, or null when they can (tries one). */
export function namespaceProblem(): string | null {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  for (const tool of ['ip', 'tc']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `\`${tool}\` is missing (apt-get install -y iproute2)`;
  }
  const probe = `convoy-probe-${process.pid}`;
  const made = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.status !== 0) return `ip netns add failed: ${made.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

/** Builds the namespaces; returns how the links are shaped ('netem', or 'tbf' with no kernel delay). */
export function setupNamespaces(id: string): 'netem' | 'tbf' {
  const output = execFileSync(SETUP, [id], { encoding: 'utf8' });
  const match = /shaping (netem|tbf)/.exec(output);
  if (match === null) throw new Error(`setup.sh said: ${output}`);
  return match[1] as 'netem' | 'tbf';
}

export function teardownNamespaces(id: string): void {
  spawnSync(TEARDOWN, [id], { stdio: 'ignore' });
}

/** `ip netns exec NS node [--import tsx] SCRIPT ...args`. NOTE: `ip netns exec` execs node, so the pid is node's own. */
export function runIn(ns: string, script: string, args: readonly string[]): Proc {
  return run(script, args, { prefix: ['ip', 'netns', 'exec', ns] });
}

export function linkDown(ns: string, device: string): void {
  execFileSync('ip', ['-n', ns, 'link', 'set', device, 'down']);
}

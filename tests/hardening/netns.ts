/**
 * Helpers for the across-hosts test: network namespaces from scripts/netns/setup.sh and
 * processes started inside them with `ip netns exec`.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Proc } from '../distributed/helpers.js';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('../..', import.meta.url));
const LOADER = pathToFileURL(require.resolve('tsx')).href;
export const SETUP = join(root, 'scripts/netns/setup.sh');
export const TEARDOWN = join(root, 'scripts/netns/teardown.sh');
export const RELAY = join(root, 'scripts/netns/delay-relay.mjs');

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

/** `ip netns exec NS node [--import tsx] SCRIPT ...args`, with the same Proc interface as the distributed helpers. */
export function runIn(ns: string, script: string, args: readonly string[]): Proc {
  const nodeArgs = script.endsWith('.ts') ? ['--import', LOADER, script, ...args] : [script, ...args];
  // NOTE: `ip netns exec` execs the command, so the pid is node's own.
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...nodeArgs], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let text = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : 128))));
  return {
    child,
    pid: child.pid!,
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text.match(pattern);
          if (match) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${text}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
}

export function linkDown(ns: string, device: string): void {
  execFileSync('ip', ['-n', ns, 'link', 'set', device, 'down']);
}

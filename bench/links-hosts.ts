/**
 * Simulated hosts for bench/links.ts: network namespaces from scripts/netns/shared-link.sh,
 * processes started in them pinned to one core (`ip netns exec NS taskset -c CORE ...`),
 * and a teardown that always runs: on the normal end, on a failure, on Ctrl-C (SIGINT),
 * SIGTERM or SIGHUP. Everything started is remembered until it is torn down.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const COORDINATOR_CLI = `${ROOT}packages/coordinator/src/cli/coordinator.ts`;
export const WORKER_CLI = `${ROOT}packages/worker/src/cli.ts`;
const RUN_TUNED = `${ROOT}scripts/run-tuned.sh`;
const SHARED_LINK = `${ROOT}scripts/netns/shared-link.sh`;
const TEARDOWN = `${ROOT}scripts/netns/teardown.sh`;
const RELAY = `${ROOT}scripts/netns/delay-relay.mjs`;

/** One shaped link: rate as tc writes it, one-way delay in ms. */
export interface Link {
  readonly rate: string;
  readonly delayMs: number;
}

/** "100mbit/20" -> { rate: '100mbit', delayMs: 20 } */
export function parseLink(text: string): Link {
  const match = /^(\d+(?:k|m|g)bit)\/(\d+(?:\.\d+)?)$/.exec(text.trim());
  if (match === null) throw new Error(`--links: "${text}" is not RATE/DELAY_MS, e.g. 100mbit/20`);
  return { rate: match[1]!, delayMs: Number(match[2]) };
}

export function describeLink(link: Link | null): string {
  if (link === null) return 'none (one host)';
  return `${link.rate.replace(/bit$/, 'bit/s').replace('gbit', ' Gbit').replace('mbit', ' Mbit').replace('kbit', ' kbit')}, ${link.delayMs} ms`;
}

/** A started process: its output so far (the tail), and its exit. */
export interface Started {
  readonly child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  readonly exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();
const namespaceIds = new Set<string>();

/** Starts `node SCRIPT args` (TypeScript through scripts/run-tuned.sh) in namespace `ns` (null: this one) on `cores`. */
export function startIn(ns: string | null, cores: string, script: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Started {
  // NOTE: ip netns exec, taskset and run-tuned.sh all exec: the pid is node's own.
  const node = script.endsWith('.ts') ? ['sh', RUN_TUNED, script] : [process.execPath, script];
  const command = [...(ns === null ? [] : ['ip', 'netns', 'exec', ns]), 'taskset', '-c', cores, ...node, ...args];
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.add(child);
  let text = '';
  const listeners = new Set<() => void>();
  const take = (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-64 * 1024);
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (children.delete(child), resolve(code))));
  return {
    child,
    output: () => text,
    exited,
    waitFor: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(text);
          if (match === null) return;
          cleanup();
          resolve(match);
        };
        const timer = setTimeout(() => (cleanup(), reject(new Error(`no ${pattern} within ${timeoutMs} ms from ${script}:\n${text.slice(-2000)}`))), timeoutMs);
        const gone = () => (cleanup(), reject(new Error(`${script} exited before ${pattern}:\n${text.slice(-2000)}`)));
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', gone);
        };
        listeners.add(check);
        child.once('exit', gone);
        check();
      }),
  };
}

/** The delay relay (the kernel has no netem) in worker namespace `ns`: local port `port` to the coordinator. */
export async function startRelay(ns: string, cores: string, port: number, target: string, targetPort: number, delayMs: number): Promise<Started> {
  const relay = startIn(ns, cores, RELAY, ['127.0.0.1', String(port), target, String(targetPort), String(delayMs)]);
  await relay.waitFor(/relay listening/, 10_000);
  return relay;
}

/** Builds the shared-link topology; returns how the delay is made ('netem', or 'tbf': the relay's job). */
export function setupSharedLink(id: string, hosts: number, link: Link): 'netem' | 'tbf' {
  namespaceIds.add(id);
  const output = execFileSync(SHARED_LINK, [id, String(hosts), link.rate, String(link.delayMs)], { encoding: 'utf8' });
  const match = /shaping (netem|tbf)/.exec(output);
  if (match === null) throw new Error(`shared-link.sh said: ${output}`);
  return match[1] as 'netem' | 'tbf';
}

/** Kills what was started and removes the namespaces (synchronous: it also runs from signal handlers and 'exit'). */
export function teardown(): void {
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  for (const id of namespaceIds) spawnSync(TEARDOWN, [id], { stdio: 'ignore' });
  namespaceIds.clear();
}

/** Tears down on every way out of the process. */
export function teardownOnExit(): void {
  process.on('exit', teardown);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\n${signal}: tearing down the namespaces\n`);
      teardown();
      process.exit(130);
    });
  }
}

/** The text of `node SCRIPT --help` (to learn which flags this checkout's CLIs accept). */
export function helpOf(script: string): string {
  return execFileSync(process.execPath, ['--import', 'tsx', script, '--help'], { encoding: 'utf8', cwd: ROOT });
}

/** The choices of `--flag` in a commander help text; [] when the flag is absent, null when it lists none. */
export function flagChoices(help: string, flag: string): string[] | null {
  const start = help.search(new RegExp(`^\\s+${flag}\\b`, 'm'));
  if (start < 0) return [];
  const rest = help.slice(start).replace(/^\s+/, '');
  // The entry runs to the next line that starts an option (continuation lines do not).
  const next = rest.search(/\n\s+--?\w/);
  const entry = next < 0 ? rest : rest.slice(0, next);
  const choices = /choices:\s*((?:"[^"]+",?\s*)+)/.exec(entry);
  return choices === null ? null : [...choices[1]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
}

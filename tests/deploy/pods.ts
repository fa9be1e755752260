/**
 * A Deployment's pod run the way the kubelet runs it, without a container engine: the
 * container's command and args exactly as the manifest writes them, started from this
 * repository (the image's WORKDIR /app is this tree, built), in a network namespace of
 * its own when given one (a node of scripts/netns/cluster.sh).
 *
 * What the kubelet does and this does too:
 *  - env from the manifest, CONVOY_TOKEN from the Secret's key; `$(VAR)` in command and args
 *    expanded from that env (`$$` is a literal `$`), as Kubernetes expands them;
 *  - each volume a host folder: the manifest's mount paths (/tmp, /runs) are rewritten to
 *    it wherever they appear in command, args, env values, probes and hooks;
 *  - the readiness probe's exec command, and the preStop hook, run beside the container
 *    (same namespace, env and folders); deletion runs the preStop hook, then SIGTERM, then
 *    SIGKILL when the grace period is over;
 *  - restartPolicy Always: a container that exits is started again until the pod is
 *    deleted. NOTE: at once, where the kubelet backs off (10 s, doubling) after repeated exits.
 *  - a container's processes die with it: each run is its own process group (`setsid`), and
 *    when its main process exits what it left (a shell's background `sleep`, say) is killed,
 *    as the end of a container's PID namespace kills them. NOTE: a leftover holds the
 *    run's output pipes open, so the run's `exited` (pipes closed) would never resolve.
 *  - an exec probe that does not answer in time fails (the kubelet's timeoutSeconds).
 * What it does not: a container's own PID namespace (node is not PID 1 here) and its own
 * hostname.
 */
import { dirname } from 'node:path';
import { spawnProc, type Proc } from '../support/processes.js';
import { containerOf, type Container, type Deployment } from './manifests.js';

export interface Placement {
  /** The network namespace the pod's processes run in, or null for this one. */
  readonly ns: string | null;
  /** A host folder for each volume of the pod, by volume name (a claim's folder outlives the pod). */
  readonly volumes: Readonly<Record<string, string>>;
  /** Secret name -> key -> value (what `kubectl create secret` made). */
  readonly secrets: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Appended to the manifest's args, as an overlay's patch would (a small test run's flags). */
  readonly extraArgs?: readonly string[];
  /** Where the pod's starts, exits and output lines are noted, with the time (for a failure's story). */
  readonly timeline?: Timeline;
}

/** What every pod did and when, one line each: printed when a test fails, to show where the time went. */
export class Timeline {
  private readonly began = Date.now();
  readonly lines: string[] = [];

  note(who: string, what: string): void {
    this.lines.push(`${((Date.now() - this.began) / 1000).toFixed(2).padStart(7)} s  ${who}: ${what}`);
  }

  toString(): string {
    return this.lines.join('\n');
  }
}

/**
 * How long an exec probe may take before it counts as failed. NOTE: longer than the kubelet's
 * default timeoutSeconds (1 s): `ip netns exec` and a shell start slowly on a loaded test machine.
 */
const PROBE_TIMEOUT_MS = 10_000;

/** The image's WORKDIR (deploy/Dockerfile): this repository, where the tests run from. */
export const IMAGE_WORKDIR = '/app';

/** `$(VAR)` from `env` (undefined names stay as written), `$$` -> `$`: Kubernetes's expansion of command and args. */
export function expandKubernetesVariables(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name: string | undefined) => {
    if (name === undefined) return '$';
    return env[name] ?? match;
  });
}

const MAX_RUNS = 5;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Pod {
  readonly container: Container;
  /** Every run of the container, the current one last. */
  readonly runs: Proc[] = [];
  private readonly env: Record<string, string>;
  private readonly mounts: Array<[string, string]>;
  private deleted = false;
  /** Runs (and probes, hooks) whose main process exited leaving others of its group running. */
  leftBehind = 0;
  private readonly graceMs: number;

  constructor(
    readonly name: string,
    deployment: Deployment,
    private readonly placement: Placement,
  ) {
    this.container = containerOf(deployment);
    if (this.container.workingDir !== IMAGE_WORKDIR) throw new Error(`${name}: workingDir ${this.container.workingDir}, the image's is ${IMAGE_WORKDIR}`);
    this.graceMs = (deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000;
    this.mounts = (this.container.volumeMounts ?? [])
      .map(({ name: volume, mountPath }): [string, string] => {
        const folder = placement.volumes[volume];
        if (folder === undefined) throw new Error(`${name}: no host folder for volume ${volume}`);
        return [mountPath, folder];
      })
      .sort((a, b) => b[0].length - a[0].length);
    const env: Record<string, string> = {
      // What the image and the runtime provide: node on the PATH, a home, the hostname.
      PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: this.mapPaths('/tmp'),
      HOSTNAME: name,
      NO_COLOR: '1',
    };
    for (const variable of this.container.env ?? []) {
      const secret = variable.valueFrom?.secretKeyRef;
      const value = secret === undefined ? variable.value : placement.secrets[secret.name]?.[secret.key];
      if (value === undefined) throw new Error(`${name}: env ${variable.name} has no value (missing Secret ${secret?.name}/${secret?.key}?)`);
      env[variable.name] = this.mapPaths(value);
    }
    this.env = env;
  }

  /** The container's command line as the runtime starts it. */
  get commandLine(): string[] {
    const written = [...(this.container.command ?? []), ...(this.container.args ?? []), ...(this.placement.extraArgs ?? [])];
    return written.map((part) => this.mapPaths(expandKubernetesVariables(part, this.env)));
  }

  /** A container path as the host folder of its volume (paths in no volume stay as written). */
  mapPaths(text: string): string {
    if (this.mounts.length === 0) return text;
    // NOTE: one pass over all mount paths: a host folder may itself lie under one (/tmp/...).
    const alternatives = this.mounts.map(([mountPath]) => mountPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
    const folders = new Map(this.mounts);
    return text.replace(new RegExp(`(^|[\\s"'=:])(${alternatives})(?=/|$|[\\s"';])`, 'g'), (_match, before: string, mountPath: string) => `${before}${folders.get(mountPath)!}`);
  }

  /** Starts the container, and again whenever it exits (at most MAX_RUNS runs: a test's pod that keeps failing is a failure), until deleted. */
  start(): Proc {
    const proc = this.spawn(this.commandLine, `container run ${this.runs.length + 1}`);
    this.runs.push(proc);
    void proc.exited.then(() => {
      if (!this.deleted && this.runs.length < MAX_RUNS) this.start();
    });
    return proc;
  }

  /** The end of a test: no hook, no grace, no restart. */
  async kill(): Promise<void> {
    this.deleted = true;
    // A run still going: its whole group, not only its main process. (An ended run's group was
    // killed when it ended; NOTE: its id may since name another process's group.)
    for (const proc of this.runs.filter((run) => run.child.exitCode === null && run.child.signalCode === null)) {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // ESRCH: it ended meanwhile.
      }
    }
    await Promise.all(this.runs.map((proc) => proc.kill('SIGKILL')));
  }

  get current(): Proc {
    const proc = this.runs.at(-1);
    if (proc === undefined) throw new Error(`${this.name} never started`);
    return proc;
  }

  /** Runs `command` beside the container, as an exec probe or hook does; resolves with its exit code. */
  exec(command: readonly string[], noted = true): Proc {
    return this.spawn(command.map((part) => this.mapPaths(part)), noted ? `exec ${command.join(' ').slice(0, 60)}` : null);
  }

  /** The readiness probe once: true when it passes (false when it does not answer within PROBE_TIMEOUT_MS). */
  async ready(): Promise<boolean> {
    const probe = this.container.readinessProbe?.exec;
    if (probe === undefined) throw new Error(`${this.name}: no exec readiness probe`);
    const check = this.exec(probe.command, false);
    const exit = await Promise.race([check.exited, sleep(PROBE_TIMEOUT_MS).then(() => null)]);
    if (exit === null) {
      this.note('readiness probe timed out');
      await check.kill();
    }
    return exit === 0;
  }

  /** Polls the readiness probe every `everyMs` until it reads `wanted`. */
  async waitReady(wanted: boolean, timeoutMs: number, everyMs = 200): Promise<void> {
    const started = Date.now();
    while ((await this.ready()) !== wanted) {
      if (Date.now() - started > timeoutMs) throw new Error(`${this.name}: readiness still ${!wanted} after ${timeoutMs} ms; its output:\n${this.output()}`);
      await sleep(everyMs);
    }
    this.note(wanted ? 'ready' : 'not ready');
  }

  /**
   * Pod deletion (a scale-down): the preStop hook, then SIGTERM, then SIGKILL at the end of
   * the grace period, which the hook's time counts against. Resolves with the container's
   * exit code, the hook's, and how long it all took.
   */
  async delete(): Promise<{ exit: number; hookExit: number | null; ms: number }> {
    this.deleted = true;
    const started = Date.now();
    const deadline = started + this.graceMs;
    const proc = this.current;
    let hookExit: number | null = null;
    const preStop = this.container.lifecycle?.preStop?.exec;
    this.note(preStop === undefined ? 'deleted' : 'deleted: its preStop hook runs');
    if (preStop !== undefined) {
      const hook = this.exec(preStop.command);
      hookExit = await Promise.race([hook.exited, sleep(this.graceMs).then(() => null)]);
      if (hookExit === null) await hook.kill();
    }
    this.note('SIGTERM');
    void proc.kill('SIGTERM');
    const exit = await Promise.race([proc.exited, sleep(Math.max(0, deadline - Date.now())).then(() => proc.kill('SIGKILL'))]);
    return { exit, hookExit, ms: Date.now() - started };
  }

  /** Every run's output, runs separated. */
  output(): string {
    return this.runs.map((proc, i) => `--- ${this.name} run ${i + 1}\n${proc.output()}`).join('\n');
  }

  private note(what: string): void {
    this.placement.timeline?.note(this.name, what);
  }

  /**
   * Starts `commandLine` in the pod's namespace as a process group of its own; `label` (null:
   * not noted) names it in the timeline. NOTE: `ip netns exec` and `setsid` both exec (setsid
   * forks only when the caller leads a group, which a spawned child never does), so the pid
   * is the command's own and signals reach it directly, as the kubelet's reach a container.
   */
  private spawn(commandLine: readonly string[], label: string | null): Proc {
    const prefix = [...(this.placement.ns === null ? [] : ['ip', 'netns', 'exec', this.placement.ns]), 'setsid'];
    const [command, ...args] = [...prefix, ...commandLine] as [string, ...string[]];
    const proc = spawnProc(command, args, this.env);
    const tag = label === null ? null : `${label} [${proc.pid}]`;
    if (tag !== null) {
      this.note(`${tag} started`);
      let partial = '';
      const lines = (chunk: Buffer) => {
        const text = partial + chunk.toString('utf8');
        const complete = text.split('\n');
        partial = complete.pop()!;
        for (const line of complete) if (line.trim() !== '') this.note(`${tag} | ${line}`);
      };
      proc.child.stdout!.on('data', lines);
      proc.child.stderr!.on('data', lines);
    }
    // The main process has exited: what it left in its group goes too (a container's end).
    proc.child.once('exit', (code, signal) => {
      if (tag !== null) this.note(`${tag} exited ${signal ?? code}`);
      try {
        process.kill(-proc.pid, 'SIGKILL');
        this.leftBehind++;
        this.note(`${tag ?? commandLine.join(' ').slice(0, 60)}: left processes behind (killed)`);
      } catch {
        // ESRCH: nothing was left.
      }
    });
    return proc;
  }
}

/**
 * A command run in a real pseudo-terminal (tests/cli/terminal.py, python3's pty module), as
 * a person runs it from a shell: the command leads the terminal's foreground process group,
 * so `type('\x03')` is a Ctrl-C that reaches every process of the group, pnpm and sh
 * included, through the terminal's line discipline, not a signal sent to one process.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DRIVER = fileURLToPath(new URL('./terminal.py', import.meta.url));

export interface Terminal {
  /** Everything the terminal showed so far (escape sequences included). */
  screen(): string;
  /** Types `text` as keys. */
  type(text: string): void;
  /** Resolves when the screen matches `pattern` (rejects after timeoutMs). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The command's exit code (128 + N for signal N). */
  readonly exited: Promise<number>;
  kill(): void;
}

export function inTerminal(command: readonly string[], columns = 80, rows = 24): Terminal {
  const child = spawn('python3', [DRIVER, String(columns), String(rows), ...command], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', TERM: 'xterm-256color' },
  });
  let text = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const listener of listeners) listener();
  });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  return {
    screen: () => text,
    type: (keys) => child.stdin!.write(keys),
    exited,
    kill: () => child.kill('SIGKILL'),
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(text);
          if (match === null) return;
          cleanup();
          resolve(match);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${pattern} not shown within ${timeoutMs} ms; the terminal showed:\n${readable(text)}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
  };
}

/**
 * The screen as lines a person would read: a line redrawn in place (from column 1: CR, or
 * `CSI 1 G` as cli-progress moves there) shows its last drawing; escapes dropped.
 */
export function readable(screen: string): string {
  return screen
    .split(/\r?\n/)
    .map((line) => line.split(/\r|\x1b\[1?G/).map((part) => part.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')).filter((part) => part !== '').at(-1) ?? '')
    .join('\n');
}

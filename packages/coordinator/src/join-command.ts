/**
 * The command a worker joins this coordinator with, as the CLI prints it and the dashboard's
 * waiting page shows it (the run record carries it). The token itself never appears: the
 * command reads it from CONVOY_TOKEN, which a shell history or pnpm's echo does not show.
 */
import { hostname } from 'node:os';
import { isAbsolute, relative, resolve } from 'node:path';
import type { ServerOptions } from './defaults.js';

export function joinCommand(options: Pick<ServerOptions, 'host' | 'token' | 'tlsCert'>, port: number): string {
  const { host: listenHost, token, tlsCert } = options;
  const host = listenHost === '0.0.0.0' || listenHost === '::' ? hostname() : listenHost.includes(':') ? `[${listenHost}]` : listenHost;
  const scheme = tlsCert === undefined ? 'ws' : 'wss';
  const tls = tlsCert === undefined ? '' : ` --tls-ca ${shownPath(resolve(tlsCert))}`;
  return `${token === undefined ? '' : 'CONVOY_TOKEN=<the token> '}pnpm worker -- --connect ${scheme}://${host}:${port}${tls}`;
}

/** `path` relative to the working directory when it lies below it, else absolute. */
export function shownPath(path: string, cwd = process.cwd()): string {
  const fromCwd = relative(cwd, path);
  return fromCwd !== '' && !fromCwd.startsWith('..') && !isAbsolute(fromCwd) ? fromCwd : path;
}

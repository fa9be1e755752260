/**
 * The command a worker joins with, for a run record that does not carry the
 * coordinator's own (records written before it did). The token is never shown: it goes
 * in CONVOY_TOKEN, so it stays out of the command line (and out of process lists and pnpm's echo).
 */
export function joinCommand(url: string, token: boolean): string {
  return `${token ? 'CONVOY_TOKEN=<token> ' : ''}pnpm worker -- --connect ${url}`;
}

/** The WebSocket address of the coordinator that served a page at `location` (same host and port). */
export function workerUrl(location: { readonly protocol: string; readonly host: string }): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
}

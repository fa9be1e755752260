/**
 * The page's one WebSocket to the coordinator (same host and port as the page): it sends
 * `subscribe` and then only listens. When the connection drops (the coordinator stopped,
 * or restarted with --resume) it retries by itself with a growing delay, and the new
 * connection's snapshot redraws everything so far.
 *
 * How a closed connection is read depends on the last `end` record the page saw:
 *   none        the coordinator went away mid-run          -> 'reconnecting' (fast retries)
 *   'stopped'   Ctrl-C or a failure: a --resume may follow  -> 'paused' (slow retries)
 *   'finished'  all epochs done: nothing will ever follow   -> 'over' (no retry at all)
 */
import {
  DEFAULT_LIMITS,
  FROM_COORDINATOR_TO_DASHBOARD,
  PROTOCOL_VERSION,
  decodeMessage,
  encodeMessage,
  type CoordinatorToDashboardMessage,
  type EndRecord,
} from '@convoy/core';
import { workerUrl } from '../join.js';

export type ConnectionStatus = 'connecting' | 'live' | 'reconnecting' | 'paused' | 'over' | 'refused';

export interface ConnectionHandlers {
  onMessage(message: CoordinatorToDashboardMessage): void;
  onStatus(status: ConnectionStatus, detail: string): void;
}

const FIRST_RETRY_MS = 500;
const LAST_RETRY_MS = 5_000;
const LIMITS = { ...DEFAULT_LIMITS, accept: FROM_COORDINATOR_TO_DASHBOARD };

/** What a closed connection means after the run's end record (see the header). */
export function statusAfterClose(end: Pick<EndRecord, 'reason'> | null, refused: boolean): ConnectionStatus {
  if (refused) return 'refused';
  if (end === null) return 'reconnecting';
  switch (end.reason) {
    case 'finished':
      return 'over';
    case 'stopped':
    case 'failed':
      return 'paused';
    default: {
      const unknown: never = end.reason;
      throw new Error(`unknown end reason ${String(unknown)}`);
    }
  }
}

/** ws://host:port/ of the page's own origin; ?token=SECRET in the page's address is passed on. */
export function connect(handlers: ConnectionHandlers): void {
  const token = new URLSearchParams(location.search).get('token') ?? undefined;
  const url = `${workerUrl(location)}/`;
  let delay = FIRST_RETRY_MS;
  let attempt = 0;
  let refused = false;
  let end: EndRecord | null = null;

  const open = (): void => {
    attempt++;
    if (!refused && end === null) handlers.onStatus(attempt === 1 ? 'connecting' : 'reconnecting', attempt === 1 ? '' : `attempt ${attempt}`);
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    let lastError = '';
    socket.onopen = () => {
      socket.send(encodeMessage({ type: 'subscribe', protocol: PROTOCOL_VERSION, ...(token === undefined ? {} : { token }) }));
    };
    socket.onmessage = (event: MessageEvent) => {
      if (!(event.data instanceof ArrayBuffer)) return;
      let message: CoordinatorToDashboardMessage;
      try {
        message = decodeMessage(new Uint8Array(event.data), LIMITS);
      } catch (error) {
        // A frame that does not parse changes nothing on the page; say so once in the console.
        console.warn(`convoy dashboard: ignored a frame: ${(error as Error).message}`);
        return;
      }
      if (message.type === 'snapshot') {
        delay = FIRST_RETRY_MS;
        attempt = 0;
        refused = false;
        end = message.end;
        handlers.onStatus('live', '');
      }
      if (message.type === 'metrics') {
        // A resumed run publishes a new run record: whatever ended before is history.
        if (message.record.kind === 'end') end = message.record;
        else if (message.record.kind === 'run') end = null;
      }
      if (message.type === 'error') {
        lastError = `${message.code}: ${message.message}`;
        refused = message.fatal;
      }
      handlers.onMessage(message);
    };
    socket.onclose = () => {
      const status = statusAfterClose(end, refused);
      switch (status) {
        case 'over':
          // NOTE: a finished run is a final state: the coordinator has exited for good, so no retry.
          handlers.onStatus(status, 'the run is over: this page shows its final state (reload to follow a new run on this port)');
          return;
        case 'paused':
          handlers.onStatus(status, `the run ${end?.reason ?? 'stopped'} at step ${end?.step ?? 0}: the page reconnects when it is resumed (--resume)`);
          setTimeout(open, LAST_RETRY_MS);
          return;
        case 'refused':
          // A refusal (wrong token, other protocol version) stays on screen; retrying slowly lets a fixed coordinator in.
          handlers.onStatus(status, lastError);
          setTimeout(open, LAST_RETRY_MS);
          return;
        default:
          handlers.onStatus('reconnecting', lastError);
          setTimeout(open, delay);
          delay = Math.min(LAST_RETRY_MS, delay * 1.5);
      }
    };
  };
  open();
}

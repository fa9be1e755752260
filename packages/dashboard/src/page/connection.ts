/**
 * The page's one WebSocket to the coordinator (same host and port as the page): it sends
 * `subscribe` and then only listens. When the connection drops (the coordinator stopped,
 * or restarted with --resume) it retries by itself with a growing delay, and the new
 * connection's snapshot redraws everything so far.
 */
import {
  DEFAULT_LIMITS,
  FROM_COORDINATOR_TO_DASHBOARD,
  PROTOCOL_VERSION,
  decodeMessage,
  encodeMessage,
  type CoordinatorToDashboardMessage,
} from '@convoy/core';

export type ConnectionStatus = 'connecting' | 'live' | 'reconnecting' | 'refused';

export interface ConnectionHandlers {
  onMessage(message: CoordinatorToDashboardMessage): void;
  onStatus(status: ConnectionStatus, detail: string): void;
}

const FIRST_RETRY_MS = 500;
const LAST_RETRY_MS = 5_000;
const LIMITS = { ...DEFAULT_LIMITS, accept: FROM_COORDINATOR_TO_DASHBOARD };

/** ws://host:port/ of the page's own origin; ?token=SECRET in the page's address is passed on. */
export function connect(handlers: ConnectionHandlers): void {
  const token = new URLSearchParams(location.search).get('token') ?? undefined;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
  let delay = FIRST_RETRY_MS;
  let attempt = 0;
  let refused = false;

  const open = (): void => {
    attempt++;
    if (!refused) handlers.onStatus(attempt === 1 ? 'connecting' : 'reconnecting', attempt === 1 ? '' : `attempt ${attempt}`);
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
        handlers.onStatus('live', '');
      }
      if (message.type === 'error') {
        lastError = `${message.code}: ${message.message}`;
        refused = message.fatal;
      }
      handlers.onMessage(message);
    };
    socket.onclose = () => {
      // A refusal (wrong token, other protocol version) stays on screen; retrying slowly lets a fixed coordinator in.
      handlers.onStatus(refused ? 'refused' : 'reconnecting', lastError);
      setTimeout(open, refused ? LAST_RETRY_MS : delay);
      delay = Math.min(LAST_RETRY_MS, delay * 1.5);
    };
  };
  open();
}

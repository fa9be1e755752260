/**
 * How many connections each remote address may hold while they are being set up, so one
 * address cannot take every slot the transport has (transport.ts asks, this counts):
 * - silent: TCP sockets that have sent no complete HTTP request nor upgrade yet;
 * - handshaking: WebSocket connections that have not said `hello`/`subscribe` yet.
 * A peer with many addresses (an IPv6 /64) is bounded only by the transport's global limits.
 */
import type { Socket } from 'node:net';

/** Connections that have not said hello/subscribe yet; beyond this new ones are refused at once, so a connection flood holds no memory. */
export const MAX_HANDSHAKING = 256;
/** Open TCP connections of any kind (workers, dashboards, page loads); beyond this Node closes new sockets at once. */
export const MAX_CONNECTIONS = 2_048;
/**
 * Handshaking connections from one address: half of MAX_HANDSHAKING, so one address cannot
 * hold every slot while a worker from another one is turned away as BUSY.
 */
export const MAX_HANDSHAKING_PER_ADDRESS = MAX_HANDSHAKING / 2;
/**
 * Silent TCP sockets from one address; beyond this its new sockets are closed at once. Idle
 * sockets from one address would otherwise fill MAX_CONNECTIONS until the header deadline,
 * and nobody else could connect.
 */
export const MAX_SILENT_PER_ADDRESS = MAX_CONNECTIONS / 8;

export class AddressLimits {
  private readonly silentByAddress = new Map<string, number>();
  /** The silent sockets, as "address:port" (a TLS socket shares its TCP socket's). */
  private readonly silentSockets = new Set<string>();
  private readonly handshakingByAddress = new Map<string, number>();

  /**
   * A new TCP socket (the raw one, also under TLS): false when its address already holds
   * MAX_SILENT_PER_ADDRESS silent ones (the caller closes it); else it counts until spoke().
   */
  acceptSocket(socket: Socket): boolean {
    const address = socket.remoteAddress ?? '?';
    if ((this.silentByAddress.get(address) ?? 0) >= MAX_SILENT_PER_ADDRESS) return false;
    adjust(this.silentByAddress, address, 1);
    this.silentSockets.add(`${address}:${socket.remotePort ?? '?'}`);
    socket.once('close', () => this.spoke(socket));
    return true;
  }

  /** The socket sent a whole request (or upgrade), or closed: it no longer counts as silent. */
  spoke(socket: Socket): void {
    const address = socket.remoteAddress ?? '?';
    if (this.silentSockets.delete(`${address}:${socket.remotePort ?? '?'}`)) adjust(this.silentByAddress, address, -1);
  }

  /** A WebSocket connection from `address` starts its handshake: false when the address already has MAX_HANDSHAKING_PER_ADDRESS. */
  startHandshake(address: string): boolean {
    if ((this.handshakingByAddress.get(address) ?? 0) >= MAX_HANDSHAKING_PER_ADDRESS) return false;
    adjust(this.handshakingByAddress, address, 1);
    return true;
  }

  /** Its handshake is over (admitted, refused or closed). Called once per startHandshake that returned true. */
  endHandshake(address: string): void {
    adjust(this.handshakingByAddress, address, -1);
  }
}

/** Adds `delta` to a per-address count, forgetting addresses that reach 0 (so the map holds only live ones). */
function adjust(counts: Map<string, number>, address: string, delta: number): void {
  const next = (counts.get(address) ?? 0) + delta;
  if (next <= 0) counts.delete(address);
  else counts.set(address, next);
}

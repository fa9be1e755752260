/**
 * What the coordinator measures of one worker's link (docs/protocol.md "Links"):
 *
 * - round trip: the coordinator pings each worker with a numbered payload right after its
 *   answers (ANSWER_PROBE_GAP_MS apart) and at least every LINK_PROBE_MS; the round trip
 *   is the smallest of the last RTT_WINDOW pongs. The smallest,
 *   because a ping queued behind a 4.8 MB frame, or answered by a worker busy computing,
 *   measures the queue, not the link (TCP's min-RTT filter does the same).
 * - up (worker to coordinator): a large frame's bytes after its first chunk over the time
 *   from that chunk to the frame's end, as the raw socket delivers them.
 * - down (coordinator to worker): the step frame's bytes over the time from handing it to
 *   the socket until the answer's first byte, less the round trip and the work the worker
 *   reports (decode + compute). Only when the socket had nothing queued before the frame.
 *
 * Both bandwidths are what the link delivered to this worker: two workers behind one shared
 * link each see their share. Frames under MIN_BANDWIDTH_FRAME_BYTES are not used (their
 * transfer time is lost in the noise); each estimate is a moving average, 0 until measured.
 * All times are performance.now() milliseconds.
 */

/** Each worker is pinged for its round trip at least this often (the heartbeat's pings are far rarer). */
export const LINK_PROBE_MS = 1_000;
/**
 * And right after each answer, at most this often: then the worker has just finished its
 * upload and waits, so the ping meets neither a queue nor a worker busy computing.
 */
export const ANSWER_PROBE_GAP_MS = 250;
/** The round trip is the smallest of this many recent pongs. */
const RTT_WINDOW = 8;
/** Frames below this many bytes are not used for bandwidth. */
export const MIN_BANDWIDTH_FRAME_BYTES = 64 * 1024;
/** A transfer measured shorter than this (ms) is timer noise, not a sample. */
const MIN_TRANSFER_MS = 1;
/** Smoothing of the bandwidth estimates: new = (1 - ALPHA) old + ALPHA measured. */
const BANDWIDTH_ALPHA = 0.3;

/** One link's figures as records carry them (milliseconds; megabits per second, 10^6 bits). */
export interface LinkFigures {
  readonly rttMs: number;
  readonly downMbps: number;
  readonly upMbps: number;
}

/** Megabits per second of `bytes` in `ms` milliseconds. */
export function megabitsPerSecond(bytes: number, ms: number): number {
  return (8 * bytes) / (1000 * ms);
}

function smoothed(old: number, measured: number): number {
  return old === 0 ? measured : (1 - BANDWIDTH_ALPHA) * old + BANDWIDTH_ALPHA * measured;
}

/** A frame arriving: its first chunk's time and the bytes seen since. */
interface Burst {
  readonly startedAt: number;
  readonly firstChunkBytes: number;
  bytes: number;
  chunks: number;
}

export class LinkMeter {
  downMbps = 0;
  upMbps = 0;
  private readonly rttSamples: number[] = [];
  private probeSequence = 0;
  private probe: { readonly payload: Buffer; readonly sentAt: number } | null = null;
  private lastProbeAt = -Infinity;
  private burst: Burst | null = null;
  /** When the last complete frame from the worker began to arrive. */
  private lastFrameStartedAt: number | null = null;
  /** The last frame sent, when the socket had nothing queued ahead of it. */
  private sent: { readonly at: number; readonly bytes: number } | null = null;

  /** The smallest recent round trip, ms (0 until a pong came back). */
  get rttMs(): number {
    return this.rttSamples.length === 0 ? 0 : Math.min(...this.rttSamples);
  }

  figures(): LinkFigures {
    return { rttMs: Math.round(this.rttMs * 100) / 100, downMbps: Math.round(this.downMbps * 10) / 10, upMbps: Math.round(this.upMbps * 10) / 10 };
  }

  /** Whether the last probe went out at least `gapMs` before `now`. */
  probeDue(now: number, gapMs: number): boolean {
    return now - this.lastProbeAt >= gapMs;
  }

  /** The payload of the next probe ping; an unanswered earlier probe is forgotten. */
  nextProbe(now: number): Buffer {
    this.lastProbeAt = now;
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(++this.probeSequence >>> 0);
    this.probe = { payload, sentAt: now };
    return payload;
  }

  /** A pong: a round-trip sample when it answers the outstanding probe (heartbeat pongs carry no payload). */
  pong(payload: Buffer, now: number): void {
    // NOTE: a pong arriving alone began a "burst" in chunk(); it is no frame's first byte.
    if (this.burst !== null && this.burst.chunks === 1) this.burst = null;
    const probe = this.probe;
    if (probe === null || !payload.equals(probe.payload)) return;
    this.probe = null;
    this.rttSamples.push(now - probe.sentAt);
    if (this.rttSamples.length > RTT_WINDOW) this.rttSamples.shift();
  }

  /** Raw bytes from the socket, seen before the WebSocket parser reads them. */
  chunk(bytes: number, now: number): void {
    if (this.burst === null) this.burst = { startedAt: now, firstChunkBytes: bytes, bytes, chunks: 1 };
    else {
      this.burst.bytes += bytes;
      this.burst.chunks++;
    }
  }

  /** A whole frame of `bytes` arrived (payload size): ends the burst; a large one is an upload sample. */
  frameReceived(bytes: number, now: number): void {
    const burst = this.burst;
    this.burst = null;
    this.lastFrameStartedAt = burst?.startedAt ?? null;
    if (burst === null || bytes < MIN_BANDWIDTH_FRAME_BYTES) return;
    // NOTE: the first chunk's bytes arrived before its timestamp: they are not counted, and
    // a chunk that also held the next frame's head is cut back to this frame's size.
    const measuredBytes = Math.min(bytes, burst.bytes) - burst.firstChunkBytes;
    const ms = now - burst.startedAt;
    if (measuredBytes > 0 && ms >= MIN_TRANSFER_MS) this.upMbps = smoothed(this.upMbps, megabitsPerSecond(measuredBytes, ms));
  }

  /** A frame of `bytes` handed to the socket, which then held `queuedBefore` bytes not yet written. */
  frameSent(bytes: number, now: number, queuedBefore: number): void {
    this.sent = queuedBefore === 0 && bytes >= MIN_BANDWIDTH_FRAME_BYTES ? { at: now, bytes } : null;
  }

  /**
   * The frame just received answers the last frame sent, after `workMs` of the worker's own
   * work (decoding it and computing): a download sample, when the numbers leave a transfer.
   */
  answered(workMs: number): void {
    const sent = this.sent;
    this.sent = null;
    const firstByteAt = this.lastFrameStartedAt;
    if (sent === null || firstByteAt === null || firstByteAt < sent.at) return;
    const transferMs = firstByteAt - sent.at - this.rttMs - workMs;
    if (transferMs >= MIN_TRANSFER_MS) this.downMbps = smoothed(this.downMbps, megabitsPerSecond(sent.bytes, transferMs));
  }
}

/**
 * The transport's secrets and who may talk to it: TLS files, the token check, and the
 * browser checks (Host and Origin) that keep web pages out. docs/hardening.md states the
 * threat model these serve.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { CoordinatorError, isLoopback } from './defaults.js';

/** The PEM files of --tls-cert/--tls-key, or a CoordinatorError naming the one that cannot be read. */
export function readTlsFiles(certPath: string, keyPath: string): { cert: Buffer; key: Buffer } {
  const read = (flag: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new CoordinatorError('BAD_OPTION', `${flag} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  return { cert: read('--tls-cert', certPath), key: read('--tls-key', keyPath) };
}

/** Constant-time comparison of two secrets of any length (hash first, so lengths do not leak). */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * The cookie the page gets once it was opened with the token, so what it loads next (its
 * script, the downloads, /runs, its WebSocket) needs no token in the address. Named by port:
 * a browser sends a host's cookies to all its ports, and two coordinators must not clobber
 * each other's.
 */
export function tokenCookieName(port: number): string {
  return `convoy-token-${port}`;
}

/**
 * How `request` presents the token: 'query' (?token=), 'header' (Authorization: Bearer), or
 * 'cookie' (tokenCookieName); null when it presents none that matches.
 */
export function presentedToken(request: IncomingMessage, token: string, port: number): 'query' | 'header' | 'cookie' | null {
  let query: string | null = null;
  try {
    query = new URL(request.url ?? '/', 'http://coordinator.invalid').searchParams.get('token');
  } catch {
    // An unparsable address presents nothing.
  }
  if (query !== null && sameSecret(query, token)) return 'query';
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  if (bearer !== null && sameSecret(bearer[1]!, token)) return 'header';
  const name = tokenCookieName(port);
  for (const pair of (request.headers.cookie ?? '').split(';')) {
    const separator = pair.indexOf('=');
    if (separator < 0 || pair.slice(0, separator).trim() !== name) continue;
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(separator + 1).trim());
    } catch {
      continue;
    }
    if (sameSecret(value, token)) return 'cookie';
  }
  return null;
}

/** The Set-Cookie value for tokenCookieName: never readable by scripts, never sent by other sites' pages. */
export function tokenCookie(port: number, token: string, secure: boolean): string {
  return `${tokenCookieName(port)}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/**
 * Why a browser's request must be refused, or null. Two checks, each against a kind of page:
 * - Host: a coordinator bound to a loopback address answers only requests addressed to a
 *   loopback name. A DNS-rebinding page (attacker.example resolved to 127.0.0.1) is the same
 *   origin as its own Host, so only the Host shows it is not talking to localhost.
 * - Origin (WebSocket upgrades): a page's socket carries its origin, which must be the
 *   coordinator's own (the host:port of the request's Host); a page from any other origin is
 *   refused. Node workers send no Origin, so they pass.
 * Browsers set both headers themselves; a page's script cannot forge them.
 */
export function browserProblem(request: IncomingMessage, bindHost: string, checkOrigin: boolean): string | null {
  const host = request.headers.host;
  if (host !== undefined && isLoopback(bindHost)) {
    let hostname: string;
    try {
      hostname = new URL(`http://${host}`).hostname;
    } catch {
      return 'bad Host header';
    }
    if (!isLoopback(hostname)) return `Host ${JSON.stringify(host)} is not this machine's loopback (the coordinator listens on ${bindHost})`;
  }
  const origin = request.headers.origin;
  if (!checkOrigin || origin === undefined) return null;
  const refusal = `Origin ${JSON.stringify(origin)} is not the coordinator's own`;
  if (host === undefined) return refusal;
  try {
    const given = new URL(origin);
    // NOTE: the scheme is the page's: one host:port is one server whichever scheme reached it,
    // and behind a proxy that ends TLS the page is https:// while this request is not. URL
    // drops a default port and lower-cases the host, so equal origins compare equal; an opaque
    // origin ("null": a file:// page, a sandboxed frame) throws or never matches.
    if (given.protocol !== 'http:' && given.protocol !== 'https:') return refusal;
    return given.host === new URL(`${given.protocol}//${host}`).host ? null : refusal;
  } catch {
    return refusal;
  }
}

/** The transport's secrets: TLS files and the token check. */
import { timingSafeEqual, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoordinatorError } from './defaults.js';

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

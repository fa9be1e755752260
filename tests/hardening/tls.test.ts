/**
 * TLS for workers across untrusted networks: a coordinator started with --tls-cert and
 * --tls-key (a self-signed certificate made here with openssl) speaks wss:// only; a worker
 * that trusts the certificate (--tls-ca) trains, one that does not, or that speaks plain
 * ws://, never joins. Skipped (with the reason printed) where openssl is missing; in CI that
 * is a failure instead.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkEveryImageOnce, readHistory, smallRunArgs, stepRecords, writeSpec } from '../distributed/helpers.js';
import { COORDINATOR_CLI, WORKER_CLI, run, tempDir, type Proc } from '../support/processes.js';
import { requirement } from '../support/requirements.js';

const openssl = requirement('the TLS test', spawnSync('sh', ['-c', 'command -v openssl']).status === 0 ? null : 'openssl is missing (apt-get install -y openssl)');
const dir = tempDir('hardening-tls');
const spec = writeSpec(dir);
const started: Proc[] = [];
afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

describe('TLS (wss://)', () => {
  it.skipIf(openssl.skip)('a worker that trusts the certificate trains; an untrusting or plain-ws worker never joins', async () => {
    openssl.check(); // in CI: fails here when openssl is missing
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=convoy-test', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const out = join(dir, 'run');
    const coordinator = run(COORDINATOR_CLI, [...smallRunArgs(spec, out), '--port', '0', '--tls-cert', cert, '--tls-key', key, '--min-workers', '1']);
    started.push(coordinator);
    const port = Number((await coordinator.waitFor(/listening on wss:\/\/127\.0\.0\.1:(\d+) \(dashboard: https:/))[1]);
    const untrusting = run(WORKER_CLI, ['--connect', `wss://127.0.0.1:${port}`, '--kernels', 'ts', '--retry-for', '2']);
    const plain = run(WORKER_CLI, ['--connect', `ws://127.0.0.1:${port}`, '--kernels', 'ts', '--retry-for', '2']);
    started.push(untrusting, plain);
    expect(await untrusting.exited, untrusting.output()).toBe(1);
    expect(await plain.exited, plain.output()).toBe(1);
    expect(untrusting.output()).toMatch(/unreachable/);
    expect(readHistory(out).filter((line) => line.kind === 'event' && line.event === 'join')).toEqual([]);
    const trusting = run(WORKER_CLI, ['--connect', `wss://127.0.0.1:${port}`, '--kernels', 'ts', '--tls-ca', cert]);
    started.push(trusting);
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    expect(await trusting.exited, trusting.output()).toBe(0);
    expect(checkEveryImageOnce(stepRecords(out), 1200, 96, 26)).toBeNull();
  }, 60_000);
});

/**
 * Tests that need something a machine may lack (root and network namespaces, openssl,
 * Chromium). Where it is missing they are skipped with the reason printed, except in CI
 * (CI set, as .ci/run sets it), where a missing requirement fails the test instead: there
 * a skip would hide a broken install.
 *
 *   const openssl = requirement('the TLS test', hasOpenssl ? null : 'openssl is missing (...)');
 *   it.skipIf(openssl.skip)('...', () => { openssl.check(); ... });
 */

/** CI=true (or any value but '', 'false' and '0'): what is missing fails instead of skipping. */
export const IN_CI = !['', 'false', '0'].includes(process.env['CI'] ?? '');

export interface Requirement {
  /** True where the tests that need it must skip: it is missing and this is not CI. */
  readonly skip: boolean;
  /** Throws the reason when it is missing: the first statement of a test (or beforeAll) that needs it. */
  check(): void;
}

/** `problem`: why `what` cannot run on this machine, or null when it can. Prints the reason when it skips. */
export function requirement(what: string, problem: string | null): Requirement {
  const skip = problem !== null && !IN_CI;
  if (skip) console.warn(`SKIPPED ${what}: ${problem} (in CI this fails)`);
  return {
    skip,
    check() {
      if (problem !== null) throw new Error(`${what} cannot run here: ${problem}`);
    },
  };
}

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // NOTE: the machine has 2 cores and several tests start real worker processes;
    // two test files at a time keeps them from starving each other's deadlines.
    maxWorkers: 2,
    fileParallelism: true,
  },
});

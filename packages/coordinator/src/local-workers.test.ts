import { describe, expect, it } from 'vitest';
import { LOCAL_LAYOUT, localLayout } from './local-workers.js';

describe("pnpm start's local workers", () => {
  it(`by default use every core (layout '${LOCAL_LAYOUT}')`, () => {
    const { workers, threads } = localLayout({}, 8);
    expect(workers * threads).toBe(8);
    expect(LOCAL_LAYOUT === 'threads' ? workers : threads).toBe(1);
  });

  it('--workers alone: the cores divided among them, at least one thread each', () => {
    expect(localLayout({ workers: 2 }, 8)).toEqual({ workers: 2, threads: 4 });
    expect(localLayout({ workers: 3 }, 8)).toEqual({ workers: 3, threads: 2 });
    expect(localLayout({ workers: 16 }, 8)).toEqual({ workers: 16, threads: 1 });
    expect(localLayout({ workers: 0 }, 8)).toEqual({ workers: 0, threads: 8 });
  });

  it('--local-threads given wins', () => {
    expect(localLayout({ workers: 2, threads: 3 }, 8)).toEqual({ workers: 2, threads: 3 });
    expect(localLayout({ threads: 2 }, 8).threads).toBe(2);
  });
});

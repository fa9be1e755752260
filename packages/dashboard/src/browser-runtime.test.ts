import { describe, expect, it } from 'vitest';
import { browserRuntime, describeWorkerEngine, isBrowserRuntime } from './browser-runtime.js';

describe('browserRuntime', () => {
  it.each([
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36', 'chrome 131'],
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36', 'chrome 140'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70', 'edge 131'],
    ['Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0', 'firefox 128'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15', 'safari 17'],
    ['curl/8.0', 'browser'],
  ])('%s -> %s', (agent, expected) => {
    expect(browserRuntime(agent)).toBe(expected);
  });
});

describe('describeWorkerEngine', () => {
  it('names the backend alone for workers that send no runtime, and marks browsers', () => {
    expect(describeWorkerEngine('wasm', undefined)).toBe('wasm');
    expect(describeWorkerEngine('wasm', 'node 20.19.2')).toBe('wasm · node 20.19.2');
    expect(describeWorkerEngine('wasm', 'chrome 131')).toBe('wasm · chrome 131 (browser)');
    expect(isBrowserRuntime('firefox 128')).toBe(true);
    expect(isBrowserRuntime('node 22.1.0')).toBe(false);
    expect(isBrowserRuntime(undefined)).toBe(false);
  });
});

#!/usr/bin/env node
// Builds the native kernels (src/*.cc) into ../build/convoy-native.node for this machine's CPU.
// Run at `pnpm install` (postinstall) and by `pnpm build`. It calls the C++ compiler directly
// with Node's own headers (<node prefix>/include/node), so nothing is downloaded (node-gyp
// would fetch headers unless given --nodedir) and an N-API addon needs no link step against
// Node. NOTE: this script never fails: when the compiler or the headers are missing it
// writes the reason next to where the addon would be, and Convoy runs on the wasm kernels
// (saying so once). Environment: CXX (default g++), CONVOY_NATIVE_MARCH (default native:
// the build runs on the machine that trains; an image built elsewhere sets e.g. x86-64-v3).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sourceDir = join(here, 'src');
const buildDir = resolve(here, '..', 'build');
const addonPath = join(buildDir, 'convoy-native.node');
const failurePath = join(buildDir, 'convoy-native.failed.txt');

function fail(reason) {
  mkdirSync(buildDir, { recursive: true });
  rmSync(addonPath, { force: true });
  writeFileSync(failurePath, `${reason}\n`);
  console.log(`convoy: native kernels not built (${reason}); Convoy will run on the wasm kernels`);
  process.exit(0);
}

function nodeIncludeDir() {
  const candidates = [resolve(dirname(process.execPath), '..', 'include', 'node')];
  const prefix = process.config?.variables?.node_prefix;
  if (typeof prefix === 'string' && prefix !== '') candidates.push(join(prefix, 'include', 'node'));
  candidates.push('/usr/include/node', '/usr/local/include/node');
  return candidates.find((dir) => existsSync(join(dir, 'node_api.h'))) ?? null;
}

const sources = readdirSync(sourceDir).filter((name) => name.endsWith('.cc')).map((name) => join(sourceDir, name));
const inputs = readdirSync(sourceDir).map((name) => join(sourceDir, name)).concat(join(here, 'build.mjs'));
const march = process.env.CONVOY_NATIVE_MARCH || 'native';
const stampPath = join(buildDir, 'convoy-native.flags.txt');
// -fno-math-errno: sqrt may then vectorize (the optimizers); no kernel reads errno.
const flags = ['-O3', `-march=${march}`, '-fno-math-errno', '-std=c++17', '-shared', '-fPIC', '-fvisibility=hidden', '-Wall', '-Wextra'];

const compiler = process.env.CXX || 'g++';
const stamp = [compiler, ...flags].join(' ');

// Up to date: the addon is newer than every input and was built by the same command.
if (existsSync(addonPath) && existsSync(stampPath)) {
  const built = statSync(addonPath).mtimeMs;
  const sameFlags = readFileSync(stampPath, 'utf8') === stamp;
  if (sameFlags && inputs.every((file) => statSync(file).mtimeMs <= built)) process.exit(0);
}

const include = nodeIncludeDir();
if (include === null) fail(`Node's headers (node_api.h) were not found next to ${process.execPath}`);
const probe = spawnSync(compiler, ['--version'], { encoding: 'utf8' });
if (probe.error !== undefined || probe.status !== 0) fail(`no C++ compiler: '${compiler} --version' failed`);

mkdirSync(buildDir, { recursive: true });
const temporary = `${addonPath}.${process.pid}.tmp`;
const compile = spawnSync(compiler, [...flags, `-I${include}`, ...sources, '-o', temporary], { encoding: 'utf8' });
if (compile.error !== undefined || compile.status !== 0) {
  rmSync(temporary, { force: true });
  const firstError = (compile.stderr ?? '').split('\n').find((line) => line.includes('error')) ?? String(compile.error ?? `exit ${compile.status}`);
  fail(`${compiler} failed: ${firstError.trim()}`);
}
renameSync(temporary, addonPath);
writeFileSync(stampPath, stamp);
rmSync(failurePath, { force: true });
console.log(`convoy: native kernels built (${compiler} -march=${march})`);

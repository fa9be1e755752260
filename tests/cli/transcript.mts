// Writes a terminal transcript (start, Ctrl-C, resume, finish) for a person to read:
//   node --import tsx tests/cli/transcript.mts OUT_DIR TRANSCRIPT_FILE
import { writeFileSync } from 'node:fs';
import { inTerminal, readable } from './terminal.js';

const [out, file] = process.argv.slice(2) as [string, string];
const args = ['--train-size', '2048', '--validation-size', '256', '--test-size', '256', '--epochs', '3', '--batch', '64', '--out', out, '--port', '0', '--workers', '2'];
let text = '';
const first = inTerminal(['pnpm', 'start', '--', ...args]);
await first.waitFor(/ 2\d\/32 loss/, 180_000);
first.type('\x03');
const firstCode = await first.exited;
text += `$ pnpm start -- ${args.join(' ')}\n${readable(first.screen()).replace(/\n?$/, '\n')}^C typed above (one Ctrl-C); exit code ${firstCode}\n\n`;
const resumeArgs = ['--resume', '--out', out, '--port', '0', '--workers', '2'];
const second = inTerminal(['pnpm', 'start', '--', ...resumeArgs]);
const secondCode = await second.exited;
text += `$ pnpm start -- ${resumeArgs.join(' ')}\n${readable(second.screen()).replace(/\n?$/, '\n')}exit code ${secondCode}\n`;
writeFileSync(file, text);

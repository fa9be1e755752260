import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COORDINATOR_DEFAULTS } from '../defaults.js';
import { addCoordinatorFlags, coordinatorOptions, parseFlags } from './options.js';

function optimizerOf(argv: string[]) {
  const flags = parseFlags(addCoordinatorFlags(new Command('test')), argv);
  if (typeof flags === 'number') throw new Error(`parse failed with exit code ${flags}`);
  return coordinatorOptions(flags, 0).optimizer;
}

describe('--optimizer and --lr', () => {
  it('no flags: the default recipe (Adam at 0.002, tuned with batch 256)', () => {
    expect(COORDINATOR_DEFAULTS.optimizer).toEqual({ name: 'adam', learningRate: 0.002 });
    expect(optimizerOf([])).toEqual({ name: 'adam', learningRate: 0.002 });
    expect(optimizerOf(['--optimizer', 'adam'])).toEqual({ name: 'adam', learningRate: 0.002 });
  });

  it('--lr wins; another optimizer without --lr gets its own default', () => {
    expect(optimizerOf(['--lr', '0.01'])).toEqual({ name: 'adam', learningRate: 0.01 });
    expect(optimizerOf(['--optimizer', 'adadelta'])).toEqual({ name: 'adadelta' });
    expect(optimizerOf(['--optimizer', 'sgd', '--lr', '0.1', '--momentum', '0.9'])).toEqual({ name: 'sgd', learningRate: 0.1, momentum: 0.9 });
    expect(() => optimizerOf(['--optimizer', 'sgd'])).toThrow('--optimizer sgd needs --lr');
  });
});

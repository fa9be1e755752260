import { Command } from 'commander';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { COORDINATOR_DEFAULTS, OPTION_RANGES, rangeProblem, resolveOptions } from '../defaults.js';
import { EXIT_BAD_USAGE, addCoordinatorFlags, checkResumeFlags, coordinatorOptions, givenFlags, parseFlags } from './options.js';

function optimizerOf(argv: string[]) {
  const flags = parseFlags(addCoordinatorFlags(new Command('test')), argv);
  if (typeof flags === 'number') throw new Error(`parse failed with exit code ${flags}`);
  return coordinatorOptions(flags, 0).optimizer;
}

describe('--optimizer and --lr', () => {
  it('no flags: the default recipe (Adam at 0.004, tuned with batch 512)', () => {
    expect(COORDINATOR_DEFAULTS.optimizer).toEqual({ name: 'adam', learningRate: 0.004 });
    expect(optimizerOf([])).toEqual({ name: 'adam', learningRate: 0.004 });
    expect(optimizerOf(['--optimizer', 'adam'])).toEqual({ name: 'adam', learningRate: 0.004 });
  });

  it('--lr wins; another optimizer without --lr gets its own default', () => {
    expect(optimizerOf(['--lr', '0.01'])).toEqual({ name: 'adam', learningRate: 0.01 });
    expect(optimizerOf(['--optimizer', 'adadelta'])).toEqual({ name: 'adadelta' });
    expect(optimizerOf(['--optimizer', 'sgd', '--lr', '0.1', '--momentum', '0.9'])).toEqual({ name: 'sgd', learningRate: 0.1, momentum: 0.9 });
    expect(() => optimizerOf(['--optimizer', 'sgd'])).toThrow('--optimizer sgd needs --lr');
  });
});

describe('ranges', () => {
  const cases = [
    ['--epochs', 'epochs'],
    ['--batch', 'globalBatch'],
    ['--seed', 'seed'],
    ['--validation-size', 'validationSize'],
    ['--port', 'port'],
    ['--heartbeat', 'heartbeatMs'],
    ['--deadline-first', 'deadlineFirstMs'],
  ] as const;

  it.each(cases)('%s accepts exactly what resolveOptions accepts for %s (OPTION_RANGES)', (flag, name) => {
    const range = OPTION_RANGES[name];
    // parseFlags prints commander's one line for a bad value: kept off the test output.
    const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    onTestFinished(() => quiet.mockRestore());
    const parse = (value: number) => parseFlags(addCoordinatorFlags(new Command('test')), [flag, String(value)]);
    for (const inside of [range.min, Math.min(range.max, range.min + 1)]) {
      expect(typeof parse(inside)).toBe('object');
      expect(rangeProblem(range, inside)).toBeNull();
    }
    for (const outside of [range.min - 1, range.max + 1]) {
      expect(parse(outside)).toBe(EXIT_BAD_USAGE);
      expect(() => resolveOptions({ [name]: outside })).toThrow(`${name} ${rangeProblem(range, outside)}, got ${outside}`);
    }
  });
});

describe('--lr-schedule', () => {
  const optionsOf = (argv: string[]) => {
    const program = addCoordinatorFlags(new Command('test'));
    const flags = parseFlags(program, argv);
    if (typeof flags === 'number') throw new Error(`parse failed with exit code ${flags}`);
    return coordinatorOptions(flags, 0, givenFlags(program));
  };

  it('defaults to the recipe\'s schedule and takes cosine', () => {
    expect(optionsOf([]).lrSchedule).toBe(COORDINATOR_DEFAULTS.lrSchedule);
    expect(optionsOf(['--lr-schedule', 'cosine']).lrSchedule).toBe('cosine');
    expect(optionsOf(['--lr-schedule', 'step', '--lr-decay', '0.5']).lrDecay).toBe(0.5);
  });

  it('refuses --lr-decay and --lr-decay-every with cosine (they would be ignored), and an unknown schedule, in one line', () => {
    expect(() => optionsOf(['--lr-schedule', 'cosine', '--lr-decay', '0.5'])).toThrow('--lr-decay applies to --lr-schedule step only');
    expect(() => optionsOf(['--lr-schedule', 'cosine', '--lr-decay-every', '2'])).toThrow('--lr-decay-every applies to --lr-schedule step only');
    const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    onTestFinished(() => quiet.mockRestore());
    expect(parseFlags(addCoordinatorFlags(new Command('test')), ['--lr-schedule', 'linear'])).toBe(EXIT_BAD_USAGE);
    expect(() => resolveOptions({ lrSchedule: 'linear' as never })).toThrow('lrSchedule must be one of step, cosine, got linear');
  });

  it('cannot change on --resume (checkResumeFlags)', () => {
    const options = optionsOf(['--lr-schedule', 'cosine']);
    expect(() => checkResumeFlags(options, new Set(['lrSchedule']), { lrSchedule: 'step' }, 1)).toThrow('--lr-schedule cannot change on --resume (the run used step)');
  });
});

import { describe, expect, it } from 'vitest';
import { commandIndex, parseArgs, UsageError } from './args.js';
import { allValued, commandHelp, COMMANDS, findCommand, flagSpec, topUsage } from './table.js';

describe('the command table', () => {
  it('lists every visible command once in the usage, with its summary', () => {
    const usage = topUsage();
    for (const c of COMMANDS) {
      const line = usage.split('\n').filter((l) => l.trimStart().split(/\s+/)[0] === c.name);
      expect(line, c.name).toHaveLength(c.hidden ? 0 : 1);
      if (!c.hidden) expect(line[0]).toContain(c.summary);
    }
    expect(usage).toContain('\n  serve       Start the kiln daemon\n');
    expect(usage).toContain('\n  import-ollama  Adopt the models of an Ollama store\n');
  });

  it('makes each command\'s help from its entry', () => {
    expect(commandHelp(findCommand('ls')!)).toBe('List models\n\nUsage:\n  kiln list [PREFIX]\n\nAliases:\n  list, ls');
    expect(commandHelp(findCommand('create')!)).toBe(
      'Create a model from a Modelfile\n\nUsage:\n  kiln create MODEL [-f Modelfile] [--quantize TYPE [--imatrix FILE] [--report]]\n\nFlags:\n' +
        '  -f, --file string       Name of the Modelfile (default "Modelfile")\n  -q, --quantize string   Quantize model to this level (e.g. q4_K_M)\n' +
        '  --report                Measure the quantized model against the source and save the report (kiln show MODEL --quality)\n' +
        '  --text string           Text file the report measures over (default: a built-in English sample)\n' +
        '  --imatrix string        Importance matrix for the quantization (from kiln imatrix or llama.cpp)',
    );
    expect(commandHelp(findCommand('serve')!)).toMatch(/^Start the kiln daemon\n\nUsage:\n  kiln serve\n\nEnvironment Variables:\n.*KILN_HOST/s);
  });

  it('knows each command\'s flags, and which take a value', () => {
    const create = flagSpec(findCommand('create'));
    expect([...create.valued].sort()).toEqual(['f', 'file', 'imatrix', 'q', 'quantize', 'text']);
    expect(create.known.has('help')).toBe(true);
    expect(flagSpec(findCommand('list')).known.has('insecure')).toBe(false);
    expect(flagSpec(undefined).known.has('version')).toBe(true);
  });
});

describe('argument parsing', () => {
  it('rejects a flag the command does not have', () => {
    const { valued, known } = flagSpec(findCommand('list'));
    expect(() => parseArgs(['--bogus'], valued, known)).toThrow(UsageError);
    expect(() => parseArgs(['--bogus'], valued, known)).toThrow('unknown flag: --bogus');
    expect(() => parseArgs(['-x=1'], valued, known)).toThrow('unknown flag: -x');
    expect(parseArgs(['pre', '-h'], valued, known).positional).toEqual(['pre']);
  });

  it('takes values for valued flags in both spellings, and -- ends the flags', () => {
    const { valued, known } = flagSpec(findCommand('create'));
    const a = parseArgs(['m', '-f', 'Mf', '--quantize=q8_0', '--', '--not-a-flag'], valued, known);
    expect(a.positional).toEqual(['m', '--not-a-flag']);
    expect(a.flags.get('f')).toBe('Mf');
    expect(a.flags.get('quantize')).toBe('q8_0');
    expect(() => parseArgs(['m', '-f'], valued, known)).toThrow('flag needs an argument: -f');
  });

  it('--think is a switch that may take a value after =, never the next word', () => {
    const { valued, known, optional } = flagSpec(findCommand('run'));
    expect(parseArgs(['m', '--think', 'Why?'], valued, known, optional)).toEqual({ positional: ['m', 'Why?'], flags: new Map([['think', true]]) });
    expect(parseArgs(['m', '--think=high', '--hidethinking'], valued, known, optional).flags).toEqual(new Map<string, string | true>([['think', 'high'], ['hidethinking', true]]));
    expect(() => parseArgs(['m', '--verbose=1'], valued, known, optional)).toThrow('flag --verbose takes no value');
    expect(commandHelp(findCommand('run')!)).toMatch(/--think\[=level\]\s+Enable thinking/);
  });

  it('finds the command word past flags and their values', () => {
    expect(commandIndex(['-f', 'Modelfile', 'create', 'x'], allValued())).toBe(2);
    expect(commandIndex(['--verbose', 'run', 'kjv'], allValued())).toBe(1);
    expect(commandIndex(['-v'], allValued())).toBe(-1);
  });
});

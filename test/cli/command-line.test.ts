import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  CommandLineError,
  type CommandSpec,
  InvalidArgumentError,
  optionOf,
  type Parsed,
  parseCommandLine,
} from '../../src/cli/command-line.js';
import { commandTable } from '../../src/cli/command-table.js';
import { formatHelp } from '../../src/cli/help.js';

const ran: unknown[] = [];
const run = async (...a: unknown[]) => void ran.push(a);
const positive = (text: string) => {
  if (!/^[1-9]\d*$/.test(text)) throw new InvalidArgumentError('expected a positive whole number');
  return Number(text);
};

const table: CommandSpec = {
  name: 'tool',
  description: 'a tool',
  helpAfter: '\nAfter the help.',
  commands: [
    {
      name: 'copy',
      description: 'copy IN to OUT',
      arguments: [
        { name: '<in>', help: 'the input' },
        { name: '[out]', help: 'the output' },
      ],
      options: [
        { flags: '-o, --output <file>', help: 'where to' },
        { flags: '-q, --quiet', help: 'say nothing' },
        { flags: '-f, --force', help: 'replace' },
        { flags: '--no-padding', help: 'do not pad' },
        { flags: '--level <n>', help: 'how hard', parse: positive },
        { flags: '--mode <m>', help: 'which way', choices: ['fast', 'small', 'tiny'], default: 'fast' },
        {
          flags: '--tag <t>',
          help: 'repeatable',
          parse: (t: string, prev: string[] = []) => [...prev, t],
        },
        { flags: '-p, --password', help: 'ask' },
        { flags: '--password-file <file>', help: 'read it', conflicts: 'password' },
      ],
      run,
    },
    {
      name: 'group',
      description: 'a group',
      commands: [
        {
          name: 'leaf',
          description: 'a leaf',
          options: [{ flags: '-s, --store <dir>', help: 'where', required: true }],
          run,
        },
      ],
    },
  ],
};

const parse = (...argv: string[]) => parseCommandLine(table, argv);
const flagsOf = (...argv: string[]) => {
  const p = parse(...argv);
  if (p.kind !== 'run') throw new Error(`not run: ${p.kind}`);
  return { args: p.args, flags: p.flags, command: p.path.map((c) => c.name).join(' ') };
};
function usageError(argv: string[]): { message: string; command: string } {
  try {
    parse(...argv);
  } catch (e) {
    if (e instanceof CommandLineError) return { message: e.message, command: e.command };
    throw e;
  }
  throw new Error(`no usage error for ${JSON.stringify(argv)}`);
}
const kind = (p: Parsed) =>
  p.kind === 'help' ? `help ${p.path.map((c) => c.name).join(' ')} ${p.asked}` : p.kind;

describe('parseCommandLine', () => {
  it('names the command, its arguments and its options, defaults included', () => {
    expect(flagsOf('copy', 'a', '-o', 'b')).toStrictEqual({
      command: 'tool copy',
      args: ['a', undefined],
      flags: { output: 'b', padding: true, mode: 'fast' },
    });
    expect(flagsOf('group', 'leaf', '--store', 'd').flags).toStrictEqual({ store: 'd' });
    expect(flagsOf('copy', 'in', '--password-file', 'f').flags.passwordFile).toBe('f');
  });

  it('spells options every way commander did', () => {
    const want = { output: 'x', quiet: true, force: true, padding: false, mode: 'fast', level: 3 };
    for (const argv of [
      ['-o', 'x', '-q', '-f', '--no-padding', '--level', '3'],
      ['--output=x', '-qf', '--no-padding', '--level=3'],
      ['-ox', '-fq', '--no-padding', '--level', '3'],
      ['-qfo', 'x', '--no-padding', '--level', '3'],
      ['-qfox', '--level=3', '--no-padding'],
    ])
      expect(flagsOf('copy', 'in', ...argv).flags, JSON.stringify(argv)).toEqual(want);
  });

  it("takes the next argument as a value whatever it is: '-o -' is standard output", () => {
    expect(flagsOf('copy', 'in', '-o', '-').flags.output).toBe('-');
    expect(flagsOf('copy', 'in', '-o', '--quiet').flags).toEqual({
      output: '--quiet',
      padding: true,
      mode: 'fast',
    });
    expect(flagsOf('copy', '-', '-o', 'x').args).toEqual(['-', undefined]);
  });

  it("takes '--', '-h' or '-V' after an option as its value", () => {
    expect(flagsOf('copy', 'in', '-o', '--').flags.output).toBe('--');
    expect(flagsOf('copy', 'in', '-o', '-h').flags.output).toBe('-h');
    expect(flagsOf('copy', 'in', '--output', '-V').flags.output).toBe('-V');
    expect(flagsOf('group', 'leaf', '--store=-h').flags.store).toBe('-h');
  });

  it('takes a negative number for an argument, as commander did', () => {
    expect(flagsOf('copy', '-5', '-1.5').args).toEqual(['-5', '-1.5']);
    expect(flagsOf('copy', '-12', '-.25').args).toEqual(['-12', '-.25']);
    expect(flagsOf('copy', '-1e+5', '-2e10').args).toEqual(['-1e+5', '-2e10']);
    expect(flagsOf('copy', '-3.75e-12').args).toEqual(['-3.75e-12', undefined]);
    for (const notANumber of ['-1x', '-1e', '-1ex5', '-e5'])
      expect(usageError(['copy', 'in', notANumber]).message).toMatch(/^unknown option '-/);
  });

  it('suggests the nearest options only, every one of them, sorted', () => {
    const near: CommandSpec = {
      name: 't',
      description: '',
      options: [
        { flags: '--tone', help: '' },
        { flags: '--bone', help: '' },
      ],
      run,
    };
    const message = (word: string) => {
      try {
        parseCommandLine(near, [word]);
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(message('--bond')).toBe("unknown option '--bond' (did you mean --bone?)");
    expect(message('--rone')).toBe("unknown option '--rone' (did you mean one of --bone, --tone?)");
  });

  it('a command without options or with one argument', () => {
    const long: CommandSpec = {
      name: 't',
      description: 'd',
      commands: [{ name: 'a-rather-long-command-name', description: 'e', commands: [] }],
    };
    expect(formatHelp([long], 80).split('\n')).toContain('  a-rather-long-command-name  e');
    const small: CommandSpec = {
      name: 't',
      description: '',
      commands: [{ name: 'one', description: '', arguments: [{ name: '[a]', help: '' }], run }],
    };
    expect(parseCommandLine(small, ['one', 'x'])).toMatchObject({ kind: 'run', args: ['x'], flags: {} });
    expect(() => parseCommandLine(small, ['one', 'x', 'y'])).toThrow(
      "too many arguments for 'one'. Expected 1 argument but got 2",
    );
  });

  it('names its errors, and refuses an option it cannot read', () => {
    expect(new CommandLineError('m', 'c').name).toBe('CommandLineError');
    expect(new InvalidArgumentError('m').name).toBe('InvalidArgumentError');
    for (const flags of ['-k', 'x --key', '--key <v> more', '--key <v', '-k,--key', '--key=<v>'])
      expect(() => optionOf({ flags, help: '' }), flags).toThrow(`unreadable option flags '${flags}'`);
    expect(optionOf({ flags: '-k, --key-file <file>', help: '' })).toMatchObject({
      short: '-k',
      long: '--key-file',
      key: 'keyFile',
      takesValue: true,
      negates: false,
    });
    expect(optionOf({ flags: '--no-rate-limit', help: '' })).toMatchObject({
      short: undefined,
      key: 'rateLimit',
      takesValue: false,
      negates: true,
    });
  });

  it("ends the options at '--'", () => {
    expect(flagsOf('copy', '--', '-q', '--help').args).toEqual(['-q', '--help']);
  });

  it('hands a repeatable option its value so far, and keeps the last of the others', () => {
    expect(flagsOf('copy', 'in', '--tag', 'a', '--tag=b', '-o', '1', '-o', '2').flags).toMatchObject({
      tag: ['a', 'b'],
      output: '2',
    });
  });

  it('help, version and the help command', () => {
    expect(kind(parse())).toBe('help tool false');
    expect(kind(parse('--help'))).toBe('help tool true');
    expect(kind(parse('-V'))).toBe('version');
    expect(kind(parse('--version'))).toBe('version');
    expect(kind(parse('group'))).toBe('help tool group false');
    expect(kind(parse('group', '-h'))).toBe('help tool group true');
    expect(kind(parse('copy', '--bogus', '-h'))).toBe('help tool copy true');
    expect(kind(parse('copy', '-qh'))).toBe('help tool copy true');
    expect(kind(parse('copy', '--help'))).toBe('help tool copy true');
    expect(kind(parse('help'))).toBe('help tool true');
    expect(kind(parse('help', 'copy'))).toBe('help tool copy true');
    expect(kind(parse('help', 'group', 'leaf'))).toBe('help tool group leaf true');
    expect(kind(parse('group', 'help', 'leaf'))).toBe('help tool group leaf true');
  });

  it.each([
    [['frob'], "unknown command 'frob'", ''],
    [['cpy'], "unknown command 'cpy' (did you mean copy?)", ''],
    [['group', 'leef'], "unknown command 'leef' (did you mean leaf?)", 'group'],
    [['-x'], "unknown option '-x'", ''],
    [['--', 'copy'], "unknown option '--'", ''],
    [['group', '-V'], "unknown option '-V'", 'group'],
    [['group', '-'], "unknown command '-'", 'group'],
    [['help', 'copy', 'extra'], "unknown command 'extra'", 'copy'],
    [['zzzpy'], "unknown command 'zzzpy'", ''],
    [['cozzz'], "unknown command 'cozzz'", ''],
    [['copy', 'in', '-qxy'], "unknown option '-x'", 'copy'],
    [['copy', 'in', '--outputx'], "unknown option '--outputx' (did you mean --output?)", 'copy'],
    [['copy', 'in', '--txy'], "unknown option '--txy'", 'copy'],
    [['copy', 'in', '--mo'], "unknown option '--mo' (did you mean --mode?)", 'copy'],
    [['copy', 'in', '--mage'], "unknown option '--mage' (did you mean one of --mode, --tag?)", 'copy'],
    [['copy', 'in', '--passwordxyz'], "unknown option '--passwordxyz'", 'copy'],
    [['copy', 'in', '--x-1'], "unknown option '--x-1'", 'copy'],
    [['copy', 'in', '-V'], "unknown option '-V'", 'copy'],
    [['help', 'frob'], "unknown command 'frob'", ''],
    [['help', 'group', 'leef'], "unknown command 'leef'", 'group'],
    [['copy', 'in', '--hel'], "unknown option '--hel' (did you mean --help?)", 'copy'],
    [['copy', 'in', '--levle', '1'], "unknown option '--levle' (did you mean --level?)", 'copy'],
    [['copy', 'in', '--key'], "unknown option '--key'", 'copy'],
    [['copy', 'in', '--bogus'], "unknown option '--bogus'", 'copy'],
    [['copy', 'in', '-qz'], "unknown option '-z'", 'copy'],
    [['copy', 'in', '--quiet=1'], "unknown option '--quiet=1' (did you mean --quiet?)", 'copy'],
    [['copy', 'in', '--padding'], "unknown option '--padding' (did you mean --no-padding?)", 'copy'],
    [['copy'], "missing required argument 'in'", 'copy'],
    [['copy', 'a', 'b', 'c'], "too many arguments for 'copy'. Expected 2 arguments but got 3", 'copy'],
    [['copy', 'in', '-o'], "option '-o, --output <file>' argument missing", 'copy'],
    [
      ['copy', 'in', '--level', '0'],
      "option '--level <n>' argument '0' is invalid. expected a positive whole number",
      'copy',
    ],
    [
      ['copy', 'in', '--mode', 'slow'],
      "option '--mode <m>' argument 'slow' is invalid. expected 'fast', 'small' or 'tiny'",
      'copy',
    ],
    [
      ['copy', 'in', '--password-file', 'f', '-p'],
      "option '--password-file <file>' cannot be used with option '-p, --password'",
      'copy',
    ],
    [['group', 'leaf'], "required option '-s, --store <dir>' not specified", 'group leaf'],
  ])('%j: %s', (argv, message, command) => {
    expect(usageError(argv)).toEqual({ message, command });
  });

  it('lets a value parser that fails otherwise throw through', () => {
    const broken: CommandSpec = {
      name: 't',
      description: '',
      options: [
        {
          flags: '--x <v>',
          help: '',
          parse: () => {
            throw new TypeError('bug');
          },
        },
      ],
      run,
    };
    expect(() => parseCommandLine(broken, ['--x', '1'])).toThrow(TypeError);
  });

  // A model of the grammar: any order of options, each in any of its spellings, around the
  // arguments, gives each option's last value.
  const spellings = (short: string | undefined, long: string, value: string | undefined) =>
    value === undefined
      ? [[long], ...(short ? [[short]] : [])]
      : [[long, value], [`${long}=${value}`], ...(short ? [[short, value], [`${short}${value}`]] : [])];
  const valued = fc.constantFrom('-o, --output <file>', '--level <n>', '--mode <m>');
  const value = (flags: string) =>
    flags.startsWith('--level')
      ? fc.integer({ min: 1, max: 99 }).map(String)
      : flags.startsWith('--mode')
        ? fc.constantFrom('fast', 'small')
        : fc.string({ minLength: 1, maxLength: 6 });
  const given = fc.oneof(
    fc
      .constantFrom('-q, --quiet', '-f, --force', '--no-padding')
      .map((flags) => ({ flags, value: undefined })),
    valued.chain((flags) => value(flags).map((v) => ({ flags, value: v as string | undefined }))),
  );
  test.prop([fc.array(given, { maxLength: 8 }), fc.nat(), fc.array(fc.nat(3), { maxLength: 8 })])(
    'agrees with a model of the grammar',
    (options, at, choice) => {
      const model: Record<string, unknown> = { padding: true, mode: 'fast' };
      const words: string[] = [];
      options.forEach(({ flags, value: v }, i) => {
        const o = optionOf({ flags, help: '' });
        model[o.key] = o.negates ? false : v === undefined ? true : o.key === 'level' ? Number(v) : v;
        const ways = spellings(o.short, o.long, v);
        words.push(...ways[(choice[i] ?? 0) % ways.length]!);
      });
      // The argument goes between two options' words, never between an option and its value.
      const cut = options.length ? at % (options.length + 1) : 0;
      const before = words.length;
      let k = 0;
      let pos = 0;
      for (; k < cut; k++) {
        const o = optionOf({ flags: options[k]!.flags, help: '' });
        const ways = spellings(o.short, o.long, options[k]!.value);
        pos += ways[(choice[k] ?? 0) % ways.length]!.length;
      }
      words.splice(pos, 0, 'in.bin');
      expect(words.length).toBe(before + 1);
      expect(flagsOf('copy', ...words)).toEqual({
        command: 'tool copy',
        args: ['in.bin', undefined],
        flags: model,
      });
    },
  );
});

describe('formatHelp', () => {
  it('lays out usage, description, arguments, options and the text after', () => {
    const copy = table.commands![0]!;
    expect(formatHelp([table, copy], 80)).toBe(
      [
        'Usage: tool copy [options] <in> [out]',
        '',
        'copy IN to OUT',
        '',
        'Arguments:',
        '  in                      the input',
        '  out                     the output',
        '',
        'Options:',
        '  -o, --output <file>     where to',
        '  -q, --quiet             say nothing',
        '  -f, --force             replace',
        '  --no-padding            do not pad',
        '  --level <n>             how hard',
        '  --mode <m>              which way (choices: "fast", "small", "tiny", default:',
        '                          "fast")',
        '  --tag <t>               repeatable',
        '  -p, --password          ask',
        '  --password-file <file>  read it',
        '  -h, --help              display help for command',
        '',
      ].join('\n'),
    );
  });

  it('lists subcommands and the version at the top', () => {
    expect(formatHelp([table], 80)).toBe(
      [
        'Usage: tool [options] [command]',
        '',
        'a tool',
        '',
        'Options:',
        '  -V, --version              output the version number',
        '  -h, --help                 display help for command',
        '',
        'Commands:',
        '  copy [options] <in> [out]  copy IN to OUT',
        '  group                      a group',
        '  help [command]             display help for command',
        '',
        'After the help.',
        '',
      ].join('\n'),
    );
  });

  it('wraps to the width; a text left fewer than 40 columns is not wrapped', () => {
    const copy = table.commands![0]!;
    const lines = formatHelp([table, copy], 66).split('\n');
    expect(lines).toContain('  --mode <m>              which way (choices: "fast", "small",');
    expect(lines).toContain('                          "tiny", default: "fast")');
    expect(formatHelp([table, copy], 65).split('\n')).toContain(
      '  --mode <m>              which way (choices: "fast", "small", "tiny", default: "fast")',
    );
    // A line exactly as wide as the room stays whole; one character more wraps.
    const exact = 'aaaaaaaaa aaaaaaaaa aaaaaaaaa aaaaaaaaa b';
    const leaf = (description: string): CommandSpec => ({ name: 'x', description, run });
    expect(formatHelp([table, leaf(exact)], 41).split('\n')[2]).toBe(exact);
    expect(
      formatHelp([table, leaf(`${exact}b`)], 41)
        .split('\n')
        .slice(2, 4),
    ).toEqual(['aaaaaaaaa aaaaaaaaa aaaaaaaaa aaaaaaaaa', 'bb']);
    expect(formatHelp([table, leaf(exact)], 41).split('\n')[0]).toBe('Usage: tool x [options]');
  });
});

describe("the CLI's command table", () => {
  // Mistakes the parser would not notice by itself: it trusts the table.
  const walk = (cmd: CommandSpec, path: string[]): [string, CommandSpec][] => [
    [path.join(' '), cmd],
    ...(cmd.commands ?? []).flatMap((c) => walk(c, [...path, c.name])),
  ];
  const commands = walk(commandTable(new AbortController().signal), []);

  it.each(commands.map(([name, cmd]) => [name || '(the program)', cmd] as const))('%s', (_, cmd) => {
    if (cmd.commands) {
      // A group takes only a command's name (and -h, -V).
      expect(cmd.options ?? []).toEqual([]);
      expect(cmd.arguments ?? []).toEqual([]);
      expect(cmd.run).toBeUndefined();
      expect(new Set(cmd.commands.map((c) => c.name)).size).toBe(cmd.commands.length);
      return;
    }
    expect(cmd.run).toBeTypeOf('function');
    const options = (cmd.options ?? []).map(optionOf);
    const names = options.flatMap((o) => [o.long, ...(o.short ? [o.short] : [])]);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    expect(names).not.toContain('-h');
    expect(names).not.toContain('-V');
    const keys = options.map((o) => o.key);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
    for (const o of options) {
      if (o.spec.conflicts !== undefined) expect(keys).toContain(o.spec.conflicts);
      if (o.spec.choices || o.spec.parse || o.spec.required) expect(o.takesValue).toBe(true);
    }
    // help.ts fills words, so runs of spaces would not survive: there are none to lose.
    for (const text of [cmd.description, ...(cmd.options ?? []).map((o) => o.help)])
      expect(text).not.toMatch(/\s\s|^\s|\s$/);
    // Required arguments come before optional ones.
    const required = (cmd.arguments ?? []).map((a) => a.name.startsWith('<'));
    expect(required).toEqual([...required].sort().reverse());
  });
});

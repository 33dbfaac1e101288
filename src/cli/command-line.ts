/**
 * The command line as data, and its parser: which command `argv` names, its arguments and its
 * options, or the usage error to report. The grammar is commander's (which this replaced, to
 * take its 12–25 ms off every run; docs/performance.md, "CLI start-up"): options anywhere among
 * a command's arguments, `--opt=value`, `-o value`, `-ovalue`, short flags grouped (`-qf`),
 * `--no-x` for an option that defaults on, `--` ending the options, and an option that takes a
 * value taking the next argument whatever it is, so that `-o -` means standard output.
 *
 * @module
 */

/** A value an option or argument cannot take; the parser names the option in the message. */
export class InvalidArgumentError extends Error {
  override name = 'InvalidArgumentError';
}

/** A usage error, for `command` (its words after the program's name, `''` for the program). */
export class CommandLineError extends Error {
  override name = 'CommandLineError';
  constructor(
    message: string,
    readonly command: string,
  ) {
    super(message);
  }
}

/** An option, declared as commander spells it: `'-o, --output <out>'`, `'--no-padding'`. */
export interface OptionSpec {
  /** Short and long names, and `<value>` when it takes one. */
  readonly flags: string;
  readonly help: string;
  /**
   * Turns the text given into the value, or throws {@link InvalidArgumentError}; gets the value
   * so far, for repeatable options (typed `never` so that each parser can name its own type).
   */
  readonly parse?: (text: string, previous: never) => unknown;
  /** The only values allowed, checked before `parse` and shown in the help. */
  readonly choices?: readonly string[];
  readonly default?: string;
  readonly required?: boolean;
  /** The key of an option this one cannot be given with. */
  readonly conflicts?: string;
}

/** An argument: `<name>` is required, `[name]` is not. */
export interface ArgumentSpec {
  readonly name: string;
  readonly help: string;
}

/**
 * A command's options, keyed by the long name in camelCase (`--key-file` → `keyFile`,
 * `--no-padding` → `padding`). Untyped, as commander's were: the table, not the type system,
 * guarantees a required option, and each command's module declares the flags it reads.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above
export type Flags = any;

/** A command: a group of subcommands, or one that runs. */
export interface CommandSpec {
  readonly name: string;
  readonly description: string;
  readonly arguments?: readonly ArgumentSpec[];
  readonly options?: readonly OptionSpec[];
  /** Text printed after the generated help. */
  readonly helpAfter?: string;
  readonly commands?: readonly CommandSpec[];
  readonly run?: (args: (string | undefined)[], flags: Flags) => Promise<void>;
}

/** An option with its names worked out. */
export interface Option {
  readonly spec: OptionSpec;
  readonly short?: string;
  readonly long: string;
  readonly key: string;
  readonly takesValue: boolean;
  readonly negates: boolean;
}

export const HELP_OPTION: OptionSpec = { flags: '-h, --help', help: 'display help for command' };
export const VERSION_OPTION: OptionSpec = { flags: '-V, --version', help: 'output the version number' };

/** Splits `'-k, --key-file <file>'` into its names. */
export function optionOf(spec: OptionSpec): Option {
  const m = /^(?:(-\w), )?(--[\w-]+)(?: <[^>]+>)?$/.exec(spec.flags);
  if (!m) throw new Error(`unreadable option flags '${spec.flags}'`);
  const long = m[2]!;
  const negates = long.startsWith('--no-');
  const key = long.slice(negates ? 5 : 2).replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
  return { spec, short: m[1], long, key, takesValue: spec.flags.endsWith('>'), negates };
}

/** What the command line asks for. */
export type Parsed =
  | {
      readonly kind: 'run';
      readonly path: readonly CommandSpec[];
      args: (string | undefined)[];
      flags: Flags;
    }
  | { readonly kind: 'help'; readonly path: readonly CommandSpec[]; readonly asked: boolean }
  | { readonly kind: 'version' };

/**
 * Parses `argv` (without `node` and the script) against the program `root`. Throws
 * {@link CommandLineError} for a usage error, in commander's words.
 */
export function parseCommandLine(root: CommandSpec, argv: readonly string[]): Parsed {
  const path: CommandSpec[] = [root];
  let rest = argv;
  for (;;) {
    const cmd = path.at(-1)!;
    const where = commandName(path);
    if (!cmd.commands) return parseLeaf(path, where, rest);
    // A group: its own options (help, and the version at the top), then a subcommand's name.
    const [name, ...after] = rest;
    if (name === '-h' || name === '--help') return { kind: 'help', path, asked: true };
    if (path.length === 1 && (name === '-V' || name === '--version')) return { kind: 'version' };
    if (name === undefined) return { kind: 'help', path, asked: false };
    if (name.length > 1 && name.startsWith('-'))
      throw new CommandLineError(`unknown option '${name}'`, where);
    if (name === 'help') return helpFor(path, after);
    const sub = cmd.commands.find((c) => c.name === name);
    if (!sub)
      throw new CommandLineError(
        `unknown command '${name}'${didYouMean(
          name,
          cmd.commands.map((c) => c.name),
        )}`,
        where,
      );
    path.push(sub);
    rest = after;
  }
}

/** `help [command...]`: the help of the command named, or of the group. */
function helpFor(path: CommandSpec[], names: readonly string[]): Parsed {
  for (const name of names) {
    const group = path.at(-1)!;
    const sub = group.commands?.find((c) => c.name === name);
    if (!sub) throw new CommandLineError(`unknown command '${name}'`, commandName(path));
    path.push(sub);
  }
  return { kind: 'help', path, asked: true };
}

/** The words that name the last command of `path`, after the program's name. */
function commandName(path: readonly CommandSpec[]): string {
  return path
    .slice(1)
    .map((c) => c.name)
    .join(' ');
}

function parseLeaf(path: readonly CommandSpec[], where: string, argv: readonly string[]): Parsed {
  const cmd = path.at(-1)!;
  const options = (cmd.options ?? []).map(optionOf);
  const byName = new Map<string, Option>();
  for (const o of options) {
    byName.set(o.long, o);
    if (o.short) byName.set(o.short, o);
  }
  const flags: Flags = {};
  for (const o of options) {
    if (o.negates) flags[o.key] = true;
    else if (o.spec.default !== undefined) flags[o.key] = o.spec.default;
  }
  const given = new Set<Option>();
  const operands: string[] = [];
  let unknown: string | undefined;
  let help = false;

  const set = (o: Option, text: string | undefined) => {
    given.add(o);
    if (!o.takesValue) {
      flags[o.key] = !o.negates;
      return;
    }
    if (text === undefined) throw new CommandLineError(`option '${o.spec.flags}' argument missing`, where);
    try {
      const { choices, parse } = o.spec;
      if (choices && !choices.includes(text))
        throw new InvalidArgumentError(
          `expected ${choices
            .map((c) => `'${c}'`)
            .join(', ')
            .replace(/, ([^,]*)$/, ' or $1')}`,
        );
      flags[o.key] = parse ? parse(text, flags[o.key] as never) : text;
    } catch (e) {
      if (!(e instanceof InvalidArgumentError)) throw e;
      throw new CommandLineError(
        `option '${o.spec.flags}' argument '${text}' is invalid. ${e.message}`,
        where,
      );
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    // A negative number is an argument, as in commander (no option here is a digit).
    if (a.length < 2 || !a.startsWith('-') || /^-(\d+|\d*\.\d+)(e[+-]?\d+)?$/.test(a)) {
      operands.push(a);
      continue;
    }
    if (a === '-h' || a === '--help') {
      help = true;
      continue;
    }
    const exact = byName.get(a);
    if (exact) {
      set(exact, exact.takesValue ? argv[++i] : undefined);
      continue;
    }
    if (!a.startsWith('--')) {
      // -qf, -ofile, -qo file
      let j = 1;
      for (; j < a.length; j++) {
        if (a[j] === 'h') {
          help = true;
          continue;
        }
        const o = byName.get(`-${a[j]}`);
        if (!o) break;
        if (o.takesValue) {
          set(o, j + 1 < a.length ? a.slice(j + 1) : argv[++i]);
          j = a.length;
        } else set(o, undefined);
      }
      if (j < a.length) unknown ??= `-${a.slice(j)}`.slice(0, 2);
      continue;
    }
    const eq = a.indexOf('=');
    const o = eq > 0 ? byName.get(a.slice(0, eq)) : undefined;
    if (o?.takesValue) set(o, a.slice(eq + 1));
    else unknown ??= a;
  }

  if (help) return { kind: 'help', path, asked: true };
  for (const o of options)
    if (o.spec.required && !given.has(o))
      throw new CommandLineError(`required option '${o.spec.flags}' not specified`, where);
  for (const o of given) {
    const other = o.spec.conflicts && options.find((p) => p.key === o.spec.conflicts);
    if (other && given.has(other))
      throw new CommandLineError(
        `option '${o.spec.flags}' cannot be used with option '${other.spec.flags}'`,
        where,
      );
  }
  if (unknown !== undefined)
    throw new CommandLineError(
      `unknown option '${unknown}'${didYouMean(unknown, [...options.map((o) => o.long), '--help'])}`,
      where,
    );
  const declared = cmd.arguments ?? [];
  for (const arg of declared)
    if (arg.name.startsWith('<') && operands.length <= declared.indexOf(arg))
      throw new CommandLineError(`missing required argument '${arg.name.slice(1, -1)}'`, where);
  if (operands.length > declared.length)
    throw new CommandLineError(
      `too many arguments for '${where}'. Expected ${declared.length} argument${declared.length === 1 ? '' : 's'} but got ${operands.length}`,
      where,
    );
  const args = declared.map((_, k) => operands[k]);
  return { kind: 'run', path, args, flags };
}

/**
 * ` (did you mean X?)` for a near miss, by commander's rule: the fewest edits, at most 2 (on long
 * options, after the `--`), with more than 40 % of the longer word left unedited; every
 * candidate as near as the nearest is named. `--x` finds `--no-x`.
 */
function didYouMean(word: string, candidates: readonly string[]): string {
  const bare = (w: string) => (w.startsWith('--') ? w.slice(2) : w);
  if (candidates.includes(`--no-${bare(word)}`)) return ` (did you mean --no-${bare(word)}?)`;
  let best: string[] = [];
  let bestDistance = 2;
  for (const c of candidates) {
    const d = editDistance(bare(word), bare(c));
    const length = Math.max(bare(word).length, bare(c).length);
    if ((length - d) / length <= 0.4 || d > bestDistance) continue;
    if (d < bestDistance) [best, bestDistance] = [[], d];
    best.push(c);
  }
  if (best.length === 0) return '';
  return ` (did you mean ${best.length > 1 ? `one of ${best.sort().join(', ')}` : best[0]}?)`;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

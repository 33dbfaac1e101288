/**
 * `--help`: a command's usage, arguments, options and subcommands from the command table, laid
 * out as commander laid them out.
 *
 * @module
 */

import { type CommandSpec, HELP_OPTION, type OptionSpec, VERSION_OPTION } from './command-line.js';

/** The help of the last command of `path` (`path[0]` is the program), wrapped to `width`. */
export function formatHelp(path: readonly CommandSpec[], width: number): string {
  const cmd = path.at(-1)!;
  const args = (cmd.arguments ?? []).map((a) => a.name).join(' ');
  const usage = path.map((c) => c.name).join(' ');
  const options: OptionSpec[] = [
    ...(cmd.options ?? []),
    ...(path.length === 1 ? [VERSION_OPTION] : []),
    HELP_OPTION,
  ];
  const commands: [string, string][] = (cmd.commands ?? []).map((c) => [
    [c.name, c.options?.length ? '[options]' : '', ...(c.arguments ?? []).map((a) => a.name)]
      .filter(Boolean)
      .join(' '),
    c.description,
  ]);
  if (cmd.commands) commands.push(['help [command]', 'display help for command']);
  const sections: [string, [string, string][]][] = [
    ['Arguments', (cmd.arguments ?? []).map((a) => [a.name.slice(1, -1), a.help])],
    ['Options', options.map((o) => [o.flags, describe(o)])],
    ['Commands', commands],
  ];
  const termWidth = Math.max(...sections.flatMap(([, rows]) => rows.map(([term]) => term.length)));

  const out = [
    `Usage: ${usage} [options]${cmd.commands ? ' [command]' : args ? ` ${args}` : ''}`,
    '',
    wrap(cmd.description, width, 0),
    '',
  ];
  for (const [title, rows] of sections) {
    if (rows.length === 0) continue;
    out.push(`${title}:`);
    for (const [term, text] of rows)
      out.push(`  ${term.padEnd(termWidth)}  ${wrap(text, width, termWidth + 4)}`);
    out.push('');
  }
  const text = `${out.join('\n').trimEnd()}\n`;
  return cmd.helpAfter === undefined ? text : `${text}${cmd.helpAfter}\n`;
}

function describe(o: OptionSpec): string {
  const extra = [
    ...(o.choices ? [`choices: ${o.choices.map((c) => JSON.stringify(c)).join(', ')}`] : []),
    ...(o.default !== undefined ? [`default: ${JSON.stringify(o.default)}`] : []),
  ];
  return extra.length ? `${o.help} (${extra.join(', ')})` : o.help;
}

/**
 * Fills words into lines of at most `width - indent` characters, later lines indented; as in
 * commander, a text left fewer than 40 columns is not wrapped at all.
 */
function wrap(text: string, width: number, indent: number): string {
  const room = width - indent;
  if (room < 40) return text;
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > room) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import type { z } from 'zod';
import { EvaluationConfigSchema } from '../eval/config.js';
import { ForesightConfigSchema, SamplingRunSchema } from '../foresight/config.js';
import { PairsConfigSchema } from '../pairs/config.js';
import { fieldDoc } from '../schema.js';
import { TrainingConfigSchema } from '../train/config.js';
import { buildProgram } from './program.js';

// The README's CLI and settings sections, generated from the program and the settings schemas
// (`npm run docs:readme` writes them; a test fails when the README differs).

/** Each settings schema, the loop-config block that takes it and the command whose flags set it. */
export const SETTINGS = [
  { title: 'Foresight sampling', block: 'sampling', command: 'sample', schema: ForesightConfigSchema },
  { title: 'Foresight sampling: scheduling', block: 'sampling', command: 'sample', schema: SamplingRunSchema },
  { title: 'Pairs', block: 'pairs', command: 'pairs', schema: PairsConfigSchema },
  { title: 'Training', block: 'training', command: 'train', schema: TrainingConfigSchema },
  { title: 'Evaluation', block: 'evaluation', command: 'eval', schema: EvaluationConfigSchema },
] as const;

/** The flag that sets `key` on `command` (the negated form for a field that defaults to true). */
export function flagOf(command: CommandUnknownOpts, key: string): string | undefined {
  return command.options.find((o) => o.attributeName() === key)?.long;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, '\\n');
const code = (s: string) => (s.includes('`') ? `\`\` ${s} \`\`` : `\`${s}\``);

function commandRow(cmd: CommandUnknownOpts): string {
  const args = cmd.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`) + (a.variadic ? '...' : ''));
  const required = cmd.options.filter((o) => o.mandatory).map((o) => o.flags);
  const optional = cmd.options.filter((o) => !o.mandatory).map((o) => o.long ?? o.flags);
  const usage = ['genius', cmd.name(), ...required, ...args].join(' ');
  return `| ${code(usage)} | ${cell(cmd.description())}${optional.length ? `; options: ${optional.map(code).join(' ')}` : ''} |`;
}

/** The README's command table: every command with its required flags, description and options. */
export function cliSection(): string {
  const program = buildProgram();
  return [
    '| command | what it does |',
    '| --- | --- |',
    ...program.commands.map((c) => commandRow(c as unknown as CommandUnknownOpts)),
  ].join('\n');
}

function show(value: unknown): string {
  if (value === undefined) return '(none)';
  return code(JSON.stringify(value));
}

/** The README's settings tables: per schema, each config key, its flag, default and meaning. */
export function settingsSection(): string {
  const program = buildProgram();
  const out: string[] = [];
  for (const s of SETTINGS) {
    const command = program.commands.find((c) => c.name() === s.command) as unknown as CommandUnknownOpts;
    out.push(
      `**${s.title}** (config block \`${s.block}\`, flags of \`genius ${s.command}\`)`,
      '',
      '| key | flag | default | meaning |',
      '| --- | --- | --- | --- |',
    );
    const schema = s.schema as z.ZodObject<z.ZodRawShape>;
    for (const key of Object.keys(schema.shape)) {
      const doc = fieldDoc(schema, key);
      const flag = flagOf(command, key);
      out.push(`| \`${key}\` | ${flag ? code(flag) : '-'} | ${show(doc.default)} | ${cell(doc.description)} |`);
    }
    out.push('');
  }
  return out.join('\n').trimEnd();
}

/** The generated README sections by marker name. */
export function readmeSections(): Record<string, string> {
  return { cli: cliSection(), settings: settingsSection() };
}

/** `text` with each `<!-- generated:NAME -->...<!-- /generated:NAME -->` block replaced by its section. */
export function fillReadme(text: string, sections: Record<string, string> = readmeSections()): string {
  let out = text;
  for (const [name, body] of Object.entries(sections)) {
    const re = new RegExp(`(<!-- generated:${name} -->\\n)[\\s\\S]*?(<!-- /generated:${name} -->)`);
    if (!re.test(out)) throw new Error(`README has no generated:${name} block`);
    out = out.replace(re, (_, open: string, close: string) => `${open}${body}\n${close}`);
  }
  return out;
}

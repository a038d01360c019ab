import { Command } from '@commander-js/extra-typings';
import { demoCommand } from './demo.js';
import { evalCommand } from './eval.js';
import { exportOnnxCommand } from './export-onnx.js';
import { exportCommand } from './export.js';
import { generateCommand } from './generate.js';
import { infoCommand } from './info.js';
import { joinCommand } from './join.js';
import { makeModelCommand } from './make-model.js';
import { mergeAdapterCommand } from './merge-adapter.js';
import { pairsCommand } from './pairs.js';
import { probeCommand } from './probe.js';
import { reportCommand } from './report.js';
import { runCommand } from './run.js';
import { sampleCommand } from './sample.js';
import { scoreCommand } from './score.js';
import { taskCommand } from './task.js';
import { tokenizeCommand } from './tokenize.js';
import { trainCommand } from './train.js';

/** Every command, one file each, in the order `--help` lists them. */
export const COMMANDS = [
  infoCommand,
  tokenizeCommand,
  makeModelCommand,
  generateCommand,
  scoreCommand,
  sampleCommand,
  pairsCommand,
  probeCommand,
  joinCommand,
  taskCommand,
  evalCommand,
  exportOnnxCommand,
  trainCommand,
  mergeAdapterCommand,
  runCommand,
  exportCommand,
  reportCommand,
  demoCommand,
] as const;

/** The `genius` program (parsing only starts with `parseAsync`; tests read its options). */
export function buildProgram(): Command<[], { verbose?: true }> {
  const program = new Command()
    .name('genius')
    .description('Label-free self-training of LLM reasoning (Genius, ACL 2025) on a native llama.cpp engine')
    .option('--verbose', 'print stack traces on errors');
  // Usage errors read like every other failure: one line, prefixed with the program's name.
  const output = { outputError: (message: string, write: (s: string) => void) => write(message.replace(/^error: /, 'genius: ')) };
  program.configureOutput(output);
  for (const make of COMMANDS) program.addCommand(make().configureOutput(output));
  return program;
}

// Rewrites the README's generated blocks (the command table and the settings tables) from the
// CLI program and the settings schemas. Run through `npm run docs:readme` (compiles first).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fillReadme } from '../dist/src/cli/docs.js';

const path = fileURLToPath(new URL('../README.md', import.meta.url));
const before = readFileSync(path, 'utf8');
const after = fillReadme(before);
if (after !== before) writeFileSync(path, after);
console.log(after === before ? 'README.md: up to date' : 'README.md: generated sections rewritten');

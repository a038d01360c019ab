#!/usr/bin/env node
// The `genius` command. A committed launcher (with its executable bit) so the command works in a
// fresh clone, where the compiled dist/ files are created after npm links the bin.
import '../dist/src/cli/main.js';

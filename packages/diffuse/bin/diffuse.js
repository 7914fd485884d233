#!/usr/bin/env node
// The `diffuse` command (see `diffuse --help`).
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));

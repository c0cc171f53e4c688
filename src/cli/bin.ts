#!/usr/bin/env node
// `npx upkeep`: the command-line interface (see `upkeep --help`).
import 'reflect-metadata';
import { runCli } from './run-cli';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`upkeep: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);

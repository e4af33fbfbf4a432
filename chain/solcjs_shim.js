#!/usr/bin/env node
// A native-solc-compatible front for solc-js, for py-solc-x's compile_standard.
// Answers `--version` and `--standard-json` (input on stdin), accepts and ignores
// --allow-paths/--base-path. Hand-written: the `solcjs` CLI prints a line before
// its JSON, which py-solc-x cannot parse, and there is no maintained wrapper.
"use strict";
const fs = require("fs");
const path = require("path");

const projectRoot = path.resolve(__dirname, "..");
const nodeModules = process.env.CONSENTFL_NODE_MODULES || path.join(projectRoot, "node_modules");
const solc = require(path.join(nodeModules, "solc"));

function findImports(importPath) {
  const candidates = [];
  if (importPath.startsWith("@")) {
    candidates.push(path.join(nodeModules, importPath));
  }
  candidates.push(path.join(projectRoot, importPath));
  candidates.push(path.join(process.cwd(), importPath));
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) {
      return { contents: fs.readFileSync(candidate, "utf8") };
    }
  }
  return { error: `File not found: ${importPath}` };
}

const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  process.stderr.write("usage: solcjs_shim.js --version | --standard-json < input.json\n");
  process.exit(2);
}
const input = fs.readFileSync(0, "utf8");
process.stdout.write(solc.compile(input, { import: findImports }));
process.stdout.write("\n");

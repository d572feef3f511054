import { rm } from "node:fs/promises";
import path from "node:path";
import { build } from "esbuild";
import { esbuildOptions, FUNCTION_SOURCES, functionEntry, lambdaBundling, repoRoot } from "./lambda-build";

/**
 * `npm run build`: bundles every function's handler to dist/functions/<name>/index.mjs with the esbuild options
 * the CDK Lambda construct uses, and prints each bundle's size (the benchmarks read these files).
 */
const outputRoot = path.join(repoRoot, "dist", "functions");
await rm(outputRoot, { recursive: true, force: true });

for (const source of FUNCTION_SOURCES) {
  const outfile = path.join(outputRoot, source, lambdaBundling.outputFile);
  const result = await build({
    ...esbuildOptions(),
    entryPoints: [functionEntry(source)],
    outfile,
    metafile: true,
  });
  const bytes = result.metafile.outputs[path.relative(repoRoot, outfile)]?.bytes;
  console.log(`${source.padEnd(16)} ${path.relative(repoRoot, outfile)}  ${formatKiB(bytes)}`);
}

function formatKiB(bytes: number | undefined): string {
  return bytes === undefined ? "" : `${(bytes / 1024).toFixed(1)} KiB`;
}

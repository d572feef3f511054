import { rm } from "node:fs/promises";
import path from "node:path";
import { build } from "esbuild";
import { FUNCTION_SOURCES, functionEntry, lambdaBundling, repoRoot } from "./lambda-build";

/**
 * `npm run build`: bundles every function's handler to dist/functions/<name>/index.mjs with the esbuild options
 * the CDK Lambda construct uses, and prints each bundle's size (the benchmarks read these files).
 */
const outputRoot = path.join(repoRoot, "dist", "functions");
await rm(outputRoot, { recursive: true, force: true });

for (const source of FUNCTION_SOURCES) {
  const outfile = path.join(outputRoot, source, lambdaBundling.outputFile);
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints: [functionEntry(source)],
    outfile,
    bundle: true,
    platform: "node",
    target: lambdaBundling.target,
    format: lambdaBundling.format,
    mainFields: [...lambdaBundling.mainFields],
    banner: { js: lambdaBundling.banner },
    minify: lambdaBundling.minify,
    sourcemap: lambdaBundling.sourcemap,
    sourcesContent: lambdaBundling.sourcesContent,
    external: [...lambdaBundling.external],
    metafile: true,
    logLevel: "warning",
  });
  const bytes = result.metafile.outputs[path.relative(repoRoot, outfile)]?.bytes;
  console.log(`${source.padEnd(16)} ${path.relative(repoRoot, outfile)}  ${formatKiB(bytes)}`);
}

function formatKiB(bytes: number | undefined): string {
  return bytes === undefined ? "" : `${(bytes / 1024).toFixed(1)} KiB`;
}

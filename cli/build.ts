// `npm run build:cli [-- outfile]`: couchgen and all its dependencies in one ESM file for Node 20+ (the image runs it).
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export const DEFAULT_OUTFILE = fileURLToPath(new URL("../dist/couchgen.mjs", import.meta.url));
const ENTRY_POINT = fileURLToPath(new URL("./couchgen.ts", import.meta.url));

// The AWS SDK's CommonJS code calls require() for Node's built-ins, which an ESM bundle has no binding for.
const BANNER = [
  "#!/usr/bin/env node",
  'import { createRequire as __couchgenCreateRequire } from "node:module";',
  "const require = __couchgenCreateRequire(import.meta.url);",
].join("\n");

export async function buildCli(outfile: string = DEFAULT_OUTFILE): Promise<string> {
  await build({
    entryPoints: [ENTRY_POINT],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    // ESM builds of the SDK where there are some: smaller, and tree-shaken.
    mainFields: ["module", "main"],
    banner: { js: BANNER },
    legalComments: "none",
    logLevel: "warning",
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outfile = await buildCli(process.argv[2] ?? DEFAULT_OUTFILE);
  console.log(`Built ${outfile}`);
}

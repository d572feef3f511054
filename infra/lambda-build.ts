import path from "node:path";
import { fileURLToPath } from "node:url";
import type { BuildOptions } from "esbuild";

/**
 * How Lambda code is built: where each function's entry file is and the esbuild options. Shared by the CDK
 * construct (`constructs/lambda-function.ts`) and `npm run build` (`bundle.ts`), so the deployed bundle and the
 * measured one cannot drift apart.
 */

/** The repository root, from this module's location (never the working directory). */
export const repoRoot = path.resolve(fileURLToPath(new URL("..", import.meta.url)));

export const FUNCTION_SOURCES = [
  "start-job",
  "validate-prompt",
  "generate-image",
  "store-image",
  "job-status",
  "failure-notifier",
] as const;

/** A folder under `functions/` holding a `handler.ts`. */
export type FunctionSource = (typeof FUNCTION_SOURCES)[number];

export function functionEntry(source: FunctionSource): string {
  return path.join(repoRoot, "functions", source, "handler.ts");
}

/** Node.js major version of the Lambda runtime; esbuild targets the same version. */
export const LAMBDA_NODE_MAJOR = 24;

export const lambdaBundling = {
  target: `node${LAMBDA_NODE_MAJOR}`,
  // ESM: top-level await is available and the SDK's ES module builds tree-shake better than its CommonJS ones.
  format: "esm",
  outputFile: "index.mjs",
  mainFields: ["module", "main"],
  // Bundled CommonJS dependencies still call require(), which ES modules lack.
  banner:
    "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  minify: true,
  // Stack traces map back to the TypeScript (NODE_OPTIONS=--enable-source-maps); sources stay out of the bundle.
  sourcemap: true,
  sourcesContent: false,
  // @aws-sdk/* is bundled, not taken from the runtime: Lambda runs the SDK versions the unit and local-stack tests ran.
  external: [] as string[],
} as const;

/**
 * The esbuild options `lambdaBundling` amounts to, for the scripts that run esbuild themselves (`npm run build`, the
 * benchmark); the Lambda construct passes the same settings through CDK's NodejsFunction.
 */
export function esbuildOptions(): BuildOptions {
  return {
    absWorkingDir: repoRoot,
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
    logLevel: "warning",
  };
}

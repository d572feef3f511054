#!/usr/bin/env node
// `npx couchgen` in this repository: runs the TypeScript source through tsx, so it works right after `npm ci` with no
// build step and is never stale. The container image runs the bundle instead (npm run build:cli → dist/couchgen.mjs).
import { register } from "tsx/esm/api";

register();
await import("../cli/couchgen.ts");

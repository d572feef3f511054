import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    reporters: ["default", "./test/setup/summary-reporter.ts"],
    setupFiles: ["test/setup/promise-with-resolvers.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores here and in CI: the CDK synth and e2e files are heavy, so cap the workers.
    maxWorkers: 2,
  },
});

// Verifies cli/Dockerfile without a Docker engine (there is none here): dockerfilelint finds nothing (its one known
// misreading aside), the runtime stage ships only the bundle, runs as a non-root user with couchgen as its entry point,
// and .dockerignore lets through exactly what the build stage copies. That the entry point enqueues like the old
// image is tested against the local stack in couchgen-local-stack.test.ts; the workflow builds the image for real.
// The bundle test copies what the build stage copies, as the Dockerfile says, so the two cannot drift apart.
import { cpSync, mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ExitCode } from "../../cli/exit-codes";
import { DOCKERFILE, isolatedEnv, run } from "./couchgen-process";

interface LintItem {
  title: string;
  rule: string;
  line: number;
  category: string;
}

// dockerfilelint is CommonJS and pure JavaScript: it runs offline.
const dockerfilelint = createRequire(import.meta.url)("dockerfilelint") as {
  run: (configDirectory: string, content: string) => LintItem[];
};

const dockerfile = readFileSync(DOCKERFILE, "utf8");
const lines = dockerfile.split("\n");
const REPOSITORY = fileURLToPath(new URL("../../", import.meta.url));
const dockerignore = readFileSync(join(REPOSITORY, ".dockerignore"), "utf8");

/** The instructions of each stage, split at FROM (the Dockerfile has no line continuations). */
function stages(): string[][] {
  const result: string[][] = [];
  for (const line of lines.filter((text) => text.trim() !== "" && !text.startsWith("#"))) {
    if (line.startsWith("FROM ")) result.push([]);
    result.at(-1)?.push(line);
  }
  return result;
}

/** The sources of the build stage's COPY lines: what it takes from the build context. */
function buildStageSources(): string[] {
  return (stages()[0] ?? []).filter((line) => line.startsWith("COPY ")).flatMap((line) => line.split(" ").slice(1, -1));
}

describe("cli/Dockerfile", () => {
  it("passes dockerfilelint", () => {
    const items = dockerfilelint.run(dirname(DOCKERFILE), dockerfile);

    // dockerfilelint 1.8 predates `FROM --platform=...` and reads the flag as the image name ("missing tag"); the
    // next test checks the tags of those lines itself. Every other finding fails the test.
    const misread = (item: LintItem) =>
      item.rule === "missing_tag" && /^FROM --platform=\S+ \S+:\S+/.test(lines[item.line - 1] ?? "");
    expect(items.filter((item) => !misread(item))).toEqual([]);
  });

  it("pins every base image to a tag other than latest", () => {
    const images = lines
      .filter((line) => line.startsWith("FROM "))
      .map((line) => line.replace(/^FROM (--platform=\S+ )?/, "").split(" ")[0]);

    expect(images.length).toBeGreaterThanOrEqual(2);
    for (const image of images) expect(image).toMatch(/^[\w./-]+:(?!latest$)[\w.-]+$/);
  });

  it("ships only the bundle in the runtime stage, runs it as a non-root user, and has couchgen as its entry point", () => {
    const [build, runtime] = stages();

    expect(build?.some((line) => line.includes("npm ci") && line.includes("--ignore-scripts"))).toBe(true);
    expect(build?.some((line) => line.includes("npm run build:cli"))).toBe(true);
    const copies = runtime?.filter((line) => line.startsWith("COPY ")) ?? [];
    expect(copies.every((line) => line.includes("--from=build"))).toBe(true);
    expect(copies.some((line) => line.endsWith("/src/dist/couchgen.mjs /app/couchgen.mjs"))).toBe(true);
    expect(runtime?.some((line) => line.startsWith("RUN "))).toBe(false);
    expect(runtime).toContain("USER node");
    expect(runtime).toContain('ENTRYPOINT ["node", "/app/couchgen.mjs"]');
  });
});

describe(".dockerignore", () => {
  it("lets through only what the build stage copies: the manifests, cli/ and the model catalog", () => {
    const rules = dockerignore.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("#"));
    const copied = buildStageSources();

    expect(rules[0]).toBe("*");
    expect(copied).toEqual(["package.json", "package-lock.json", "cli", "functions/shared/models/catalog.ts"]);
    expect(rules.filter((rule) => rule.startsWith("!"))).toEqual(
      copied.map((path) => (path === "cli" ? "!cli/" : `!${path}`)),
    );
  });
});

describe("the build stage", () => {
  it("bundles couchgen from nothing but what it copies (the CLI imports no other runtime code)", async () => {
    const context = mkdtempSync(join(tmpdir(), "couchgen-context-"));
    for (const path of buildStageSources()) {
      cpSync(join(REPOSITORY, path), join(context, path), { recursive: true });
    }
    // Stands in for the stage's `npm ci`: the same locked packages, without the download.
    symlinkSync(join(REPOSITORY, "node_modules"), join(context, "node_modules"), "dir");
    const tsx = join(REPOSITORY, "node_modules/tsx/dist/cli.mjs");

    const built = await run([process.execPath, tsx, "cli/build.ts"], isolatedEnv(), { cwd: context });
    const help = await run([process.execPath, join(context, "dist/couchgen.mjs"), "--help"], isolatedEnv());

    expect(built.stderr).toBe("");
    expect(built.code).toBe(0);
    expect(help.code).toBe(ExitCode.Ok);
    expect(help.stdout).toContain("Usage: couchgen");
  });
});

import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import type { ExecutionFacts } from "./api-types";

/** Longer prompts are kept (and searched) to this many characters. */
export const MAX_INDEXED_PROMPT = 2000;

/**
 * The jobId, prompt, model and source an execution input holds (functions/start-job: `{jobId, prompt, ..., model?,
 * source, requestedAt}`). Inputs that are not that shape (an execution started by hand) still get a row.
 */
export function factsOf(name: string, input: string, defaultModelId: string): ExecutionFacts {
  let parsed: unknown;
  try {
    parsed = JSON.parse(input);
  } catch {
    parsed = undefined;
  }
  const fields = typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const promptText =
    typeof fields.prompt === "string"
      ? fields.prompt
      : fields.prompt === undefined
        ? ""
        : JSON.stringify(fields.prompt);
  const named = typeof fields.model === "string" && fields.model !== "";
  return {
    jobId: typeof fields.jobId === "string" ? fields.jobId : name,
    prompt: promptText.slice(0, MAX_INDEXED_PROMPT),
    model: named ? String(fields.model) : defaultModelId,
    modelIsDefault: !named,
    source: typeof fields.source === "string" ? fields.source : "",
  };
}

/**
 * The facts read so far, one JSON line per execution, appended as they are read: an input never changes (not even on
 * redrive), so a restarted console reads none of them again.
 */
export class FactsFile {
  constructor(private readonly file: string) {}

  /** What an earlier run read; a line cut short by a killed stack is skipped (that input is read again). */
  load(): Map<string, ExecutionFacts> {
    const stored = new Map<string, ExecutionFacts>();
    if (!existsSync(this.file)) return stored;
    for (const line of readFileSync(this.file, "utf8").split("\n")) {
      if (line.trim() === "") continue;
      try {
        const entry = JSON.parse(line) as { executionArn?: unknown; facts?: ExecutionFacts };
        if (typeof entry.executionArn === "string" && entry.facts) stored.set(entry.executionArn, entry.facts);
      } catch {
        // A partial line.
      }
    }
    return stored;
  }

  append(entries: readonly [string, ExecutionFacts][]): void {
    if (entries.length === 0) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const lines = entries.map(([executionArn, facts]) => JSON.stringify({ executionArn, facts }));
    appendFileSync(this.file, `${lines.join("\n")}\n`);
  }
}

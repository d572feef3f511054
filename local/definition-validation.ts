import { createRequire } from "node:module";

interface AslValidatorError {
  "Error code": string;
  Message: string;
  schemaError?: { instancePath?: string };
}
const aslValidator = createRequire(import.meta.url)("asl-validator") as (definition: unknown) => {
  isValid: boolean;
  errors: AslValidatorError[];
};

export interface ValidationDiagnostic {
  severity: "ERROR";
  code: string;
  message: string;
  location?: string;
}

export interface ValidationResult {
  result: "OK" | "FAIL";
  diagnostics: ValidationDiagnostic[];
  truncated: boolean;
}

export class InvalidValidationRequestError extends Error {
  override name = "ValidationException";
}

const STATE_MACHINE_TYPES = ["STANDARD", "EXPRESS"];
const DEFAULT_MAX_DIAGNOSTICS = 100;

/**
 * ValidateStateMachineDefinition's answer, shaped as the API reference gives it
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ValidateStateMachineDefinition.html and
 * .../API_ValidateStateMachineDefinitionDiagnostic.html): `result` OK or FAIL, ERROR diagnostics with AWS's codes
 * where one fits (MISSING_DESCRIPTION, INVALID_JSON_DESCRIPTION, SCHEMA_VALIDATION_FAILED, INVALID_RESOURCE) and
 * asl-validator's own otherwise, `location` as a JSON pointer (`/States/<State>/<Field>`) when known. The rules are
 * asl-validator's, not AWS's: no WARNING diagnostics (NO_DOLLAR, NO_PATH), and AWS may refuse what passes here.
 */
export function validateDefinition(request: {
  definition?: unknown;
  type?: unknown;
  maxResults?: unknown;
}): ValidationResult {
  const type = request.type ?? "STANDARD";
  if (typeof type !== "string" || !STATE_MACHINE_TYPES.includes(type)) {
    throw new InvalidValidationRequestError(
      `1 validation error detected: Value '${String(type)}' at 'type' failed to satisfy constraint: Member must ` +
        `satisfy enum value set: [${STATE_MACHINE_TYPES.join(", ")}]`,
    );
  }
  const diagnostics = diagnose(request.definition, type);
  const limit =
    typeof request.maxResults === "number" && request.maxResults > 0 ? request.maxResults : DEFAULT_MAX_DIAGNOSTICS;
  return {
    result: diagnostics.length === 0 ? "OK" : "FAIL",
    diagnostics: diagnostics.slice(0, limit),
    truncated: diagnostics.length > limit,
  };
}

function diagnose(definition: unknown, type: string): ValidationDiagnostic[] {
  if (typeof definition !== "string" || definition.trim() === "") {
    return [error("MISSING_DESCRIPTION", "The definition is missing or empty: pass the state machine's ASL as JSON")];
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(definition);
  } catch (problem) {
    return [error("INVALID_JSON_DESCRIPTION", `The definition is not JSON: ${(problem as Error).message}`)];
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return [error("SCHEMA_VALIDATION_FAILED", "The definition must be a JSON object with StartAt and States", "/")];
  }
  const found = aslValidator(parsed).errors.map((problem) => {
    const location = problem.schemaError?.instancePath;
    return error(problem["Error code"], problem.Message.trim(), location ? location : undefined);
  });
  return type === "EXPRESS" ? [...found, ...expressOnlyProblems(parsed)] : found;
}

/** Express workflows cannot wait for a callback or a .sync job: AWS refuses such a task at creation. */
function expressOnlyProblems(definition: object): ValidationDiagnostic[] {
  const problems: ValidationDiagnostic[] = [];
  const visit = (states: unknown, path: string) => {
    if (typeof states !== "object" || states === null) return;
    for (const [name, state] of Object.entries(states as Record<string, Record<string, unknown>>)) {
      const resource = state?.Resource;
      if (typeof resource === "string" && /\.(sync(:\d+)?|waitForTaskToken)$/.test(resource)) {
        problems.push(
          error(
            "INVALID_RESOURCE",
            `Express state machines do not support the ${resource.slice(resource.lastIndexOf("."))} integration ` +
              "pattern: use STANDARD, or call the service without waiting",
            `${path}/${name}/Resource`,
          ),
        );
      }
      const branches: unknown[] = Array.isArray(state?.Branches) ? state.Branches : [];
      branches.forEach((branch, index) => {
        visit((branch as { States?: unknown }).States, `${path}/${name}/Branches/${index}/States`);
      });
      for (const key of ["ItemProcessor", "Iterator"]) {
        visit((state?.[key] as { States?: unknown } | undefined)?.States, `${path}/${name}/${key}/States`);
      }
    }
  };
  visit((definition as { States?: unknown }).States, "/States");
  return problems;
}

function error(code: string, message: string, location?: string): ValidationDiagnostic {
  return { severity: "ERROR", code, message, ...(location ? { location } : {}) };
}

// The TestState request read into a test case, and refused with the error names and messages AWS gives.
import { validateDefinition } from "./definition-validation";

export class InvalidDefinitionError extends Error {
  override name = "InvalidDefinition";
}

export class TestStateValidationError extends Error {
  override name = "ValidationException";
}

class InvalidArnError extends Error {
  override name = "InvalidArn";
}

class InvalidExecutionInputError extends Error {
  override name = "InvalidExecutionInput";
}

export type State = Record<string, unknown> & { Type?: string; Resource?: string };
type InspectionLevel = "INFO" | "DEBUG" | "TRACE";

export interface TestCase {
  name: string;
  state: State;
  input: unknown;
  level: InspectionLevel;
  mock?: { result?: unknown; errorOutput?: { error?: string; cause?: string } };
  /** stateConfiguration.retrierRetryCount: retries already made, which decides whether a retrier has attempts left. */
  retryCount: number;
  context?: Record<string, unknown>;
}

const INSPECTION_LEVELS: InspectionLevel[] = ["INFO", "DEBUG", "TRACE"];
const TESTABLE_TYPES = ["Task", "Wait", "Pass", "Succeed", "Fail", "Choice"];
/** The name a lone state (no stateName) runs under. */
const LONE_STATE_NAME = "TestState";
/** Whole definitions that passed asl-validator (~0.5 s a check): a tool tests state after state of one machine. */
const validDefinitions = new Set<string>();
const MAX_REMEMBERED_DEFINITIONS = 32;

export function readRequest(request: Record<string, unknown>): TestCase {
  const { definition, stateName, inspectionLevel = "INFO", mock, revealSecrets, variables, context } = request;
  if (typeof definition !== "string" || definition.length === 0) {
    throw new TestStateValidationError(
      "1 validation error detected: Value null at 'definition' failed to satisfy constraint: Member must not be null",
    );
  }
  if (!INSPECTION_LEVELS.includes(inspectionLevel as InspectionLevel)) {
    throw new TestStateValidationError(
      `1 validation error detected: Value '${String(inspectionLevel)}' at 'inspectionLevel' failed to satisfy ` +
        `constraint: Member must satisfy enum value set: [${INSPECTION_LEVELS.join(", ")}]`,
    );
  }
  if (stateName !== undefined && (typeof stateName !== "string" || stateName.length < 1 || stateName.length > 80)) {
    throw new TestStateValidationError("stateName must be 1 to 80 characters");
  }
  const testMock = readMock(mock, revealSecrets);
  if (context !== undefined && !testMock) {
    throw new TestStateValidationError("context may be specified only with a mock");
  }
  if (typeof variables === "string" && variables.trim() !== "" && variables.trim() !== "{}") {
    throw new TestStateValidationError(
      "The local runner (aws-local-stepfunctions) has no workflow variables: test without variables, or on AWS",
    );
  }
  const { name, state } = pickState(parseJson(definition, "definition"), stateName as string | undefined);
  checkState(name, state, testMock !== undefined, request.roleArn);
  return {
    name,
    state,
    input: readInput(request.input),
    level: inspectionLevel as InspectionLevel,
    mock: testMock,
    retryCount: Number(
      (request.stateConfiguration as { retrierRetryCount?: number } | undefined)?.retrierRetryCount ?? 0,
    ),
    context: context === undefined ? undefined : (parseJson(String(context), "context") as Record<string, unknown>),
  };
}

function readMock(mock: unknown, revealSecrets: unknown): TestCase["mock"] {
  if (mock === undefined) return undefined;
  const { result, errorOutput } = mock as { result?: unknown; errorOutput?: { error?: string; cause?: string } };
  if ((result === undefined) === (errorOutput === undefined)) {
    throw new TestStateValidationError(
      "A test mock should have only one of the following fields: [result, errorOutput].",
    );
  }
  if (revealSecrets === true) {
    throw new TestStateValidationError("TestState does not support RevealSecrets when a mock is specified.");
  }
  if (errorOutput !== undefined) return { errorOutput };
  try {
    return { result: JSON.parse(String(result)) };
  } catch {
    throw new TestStateValidationError("Mocked result must be valid JSON");
  }
}

/** The state under test: the whole definition is a state, or a state machine holding `stateName`. */
function pickState(definition: unknown, stateName: string | undefined): { name: string; state: State } {
  if (stateName === undefined) {
    const state = definition as State;
    if (typeof state?.Type !== "string") {
      throw invalidDefinition("SCHEMA_VALIDATION_FAILED", "A state needs a Type (pass stateName with a whole machine)");
    }
    return { name: LONE_STATE_NAME, state };
  }
  const state = (definition as { States?: Record<string, State> } | null)?.States?.[stateName];
  if (!state) throw new TestStateValidationError("State not found in definition");
  assertValid(definition);
  return { name: stateName, state };
}

/** The refusals AWS documents, and what the local runner cannot run. */
function checkState(name: string, state: State, mocked: boolean, roleArn: unknown): void {
  if (state.Type === "Map" || state.Type === "Parallel") {
    throw new InvalidDefinitionError(
      `TestState API does not support Map or Parallel states. Supported state types include: [${TESTABLE_TYPES.join(", ")}]`,
    );
  }
  if (mocked && state.Type !== "Task") {
    throw new TestStateValidationError(`State type '${String(state.Type)}' is not supported when a mock is specified`);
  }
  if (state.QueryLanguage === "JSONata" || "Assign" in state) {
    throw new TestStateValidationError(
      `State ${name}: the local runner (aws-local-stepfunctions) runs JSONPath only, without Assign; test it on AWS`,
    );
  }
  if (state.Type === "Task") {
    if (roleArn === undefined && !mocked) {
      throw new TestStateValidationError("RoleArn must be specified when testing a Task state");
    }
    const resource = String(state.Resource ?? "");
    if (!mocked && (/\.(sync(:\d+)?|waitForTaskToken)$/.test(resource) || resource.includes(":activity:"))) {
      throw new InvalidDefinitionError(
        `TestState supports Activity tasks and the .sync and .waitForTaskToken integration patterns only with a ` +
          `mock: ${name} uses ${resource}`,
      );
    }
  }
  if (roleArn !== undefined && !/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(String(roleArn))) {
    throw new InvalidArnError(
      `Invalid Arn: '${String(roleArn)}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)`,
    );
  }
}

function readInput(input: unknown): unknown {
  if (input === undefined) return {};
  try {
    return JSON.parse(String(input));
  } catch (problem) {
    throw new InvalidExecutionInputError(`Invalid State Machine Execution Input: '${(problem as Error).message}'`);
  }
}

function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text);
  } catch (problem) {
    throw field === "definition"
      ? invalidDefinition("INVALID_JSON_DESCRIPTION", (problem as Error).message)
      : new TestStateValidationError(`${field} is not JSON: ${(problem as Error).message}`);
  }
}

/** asl-validator's diagnostics, in the message shape AWS gives InvalidDefinition. */
function assertValid(definition: unknown): void {
  const text = JSON.stringify(definition);
  if (validDefinitions.has(text)) return;
  const validation = validateDefinition({ definition: text });
  if (validation.result === "OK") {
    if (validDefinitions.size >= MAX_REMEMBERED_DEFINITIONS) validDefinitions.clear();
    validDefinitions.add(text);
    return;
  }
  throw new InvalidDefinitionError(
    `Invalid State Machine Definition: '${validation.diagnostics
      .map((found) => `${found.code}: ${found.message}${found.location ? ` at ${found.location}` : ""}`)
      .join(", ")}'`,
  );
}

/**
 * Why the machine could not be built: its definition (aws-local-stepfunctions validates it, at ~0.5 s a time, so it
 * is validated here again only when that failed) or a resource the runner does not emulate.
 */
export function refusalOf(problem: unknown, machine: unknown): Error {
  const message = (problem as Error).message;
  if (message.startsWith("State machine definition is invalid")) assertValid(machine);
  return new TestStateValidationError(`${message}: give a mock, or test this state on AWS`);
}

function invalidDefinition(code: string, message: string): InvalidDefinitionError {
  return new InvalidDefinitionError(`Invalid State Machine Definition: '${code}: ${message}'`);
}

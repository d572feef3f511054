import {
  catcherIndex,
  causeText,
  Inspection,
  retrierWithAttemptsLeft,
  stateError,
  type TestStateResponse,
} from "./test-state-answer";
import { readRequest } from "./test-state-request";
import { contextOf, oneStateMachine, startRun, type TestStateServices } from "./test-state-run";

export { InvalidDefinitionError, TestStateValidationError } from "./test-state-request";
export type { TestStateServices } from "./test-state-run";
export type { TestStateResponse };

/** "The TestState API can run for up to five minutes", then States.Timeout (API_TestState). */
const TEST_STATE_TIMEOUT_MS = 5 * 60 * 1000;

/**
 * TestState (https://docs.aws.amazon.com/step-functions/latest/apireference/API_TestState.html) on the local runner:
 * the tested state runs once, as the first state of a machine whose every Next/Default/Choice/Catch target is a
 * Succeed state of that name, on a StateMachineRunner with the stack's handlers and clients (or, with a `mock`, on
 * aws-local-stepfunctions with the mock as the task's result). As on AWS, Retry is never run: an error a retrier with
 * attempts left matches is RETRIABLE. Task results are taken before ResultSelector/ResultPath/OutputPath, which are
 * then applied by one-state Pass machines, so DEBUG shows each data-flow step. TRACE adds AWS's HTTP request and
 * response only for HTTP tasks, which the local runner does not run: here it answers as DEBUG. Not served: Map and
 * Parallel (refused, as AWS does without a mock), JSONata and variables (the runner has neither), field validation
 * of mocks against the service's API model.
 */
export async function testState(
  request: Record<string, unknown>,
  services: TestStateServices,
  stateMachineArn: string,
): Promise<TestStateResponse> {
  const testCase = readRequest(request);
  const [, , , region, account] = stateMachineArn.split(":");
  const name = crypto.randomUUID();
  const ids = {
    stateMachineArn: `arn:aws:states:${region}:${account}:stateMachine:TestState`,
    executionArn: `arn:aws:states:${region}:${account}:express:TestState:${name}`,
    name,
  };
  const { machine, targetOf } = oneStateMachine(testCase);
  const run = startRun(machine, testCase, services, ids);
  const timer = setTimeout(run.stop, TEST_STATE_TIMEOUT_MS);
  const timedOut = await run.done.finally(() => clearTimeout(timer));
  const events = run.events;
  const ofTested = (type: string) => events.find((event) => event.type === type && event.state?.name === testCase.name);
  const failed = ofTested("StateFailed") ?? events.find((event) => event.type === "ExecutionFailed");
  const next = events.find((event) => event.type === "StateEntered" && event.state?.name !== testCase.name);
  const nextState = next?.state ? targetOf(next.state.name) : undefined;
  const evaluationContext = contextOf(testCase, ids);
  const inspection = new Inspection(testCase, evaluationContext, run.parameters[0]);

  if (timedOut || failed) {
    const error = timedOut ? "States.Timeout" : String(failed?.Error ?? "States.Runtime");
    const cause = timedOut ? "The state did not finish within TestState's five minutes" : causeText(failed?.Cause);
    const retrier = retrierWithAttemptsLeft(testCase, error);
    if (retrier) {
      return inspection.answer({ status: "RETRIABLE", error, cause }, { errorDetails: retrier });
    }
    const caught = ofTested("StateCaught");
    if (caught) {
      const output = ofTested("StateExited")?.state?.output;
      const catchIndex = catcherIndex(caught, machine.States[testCase.name]);
      return inspection.answer(
        { status: "CAUGHT_ERROR", error, cause, output: JSON.stringify(output), nextState },
        catchIndex === -1 ? {} : { errorDetails: { catchIndex } },
      );
    }
    return inspection.answer({ status: "FAILED", error, cause });
  }
  const output = ofTested("StateExited")?.state?.output;
  try {
    const finalOutput = testCase.state.Type === "Task" ? await inspection.taskResult(output) : output;
    return inspection.answer({ status: "SUCCEEDED", output: JSON.stringify(finalOutput), nextState });
  } catch (error) {
    const { name: errorName, message } = stateError(error);
    return inspection.answer({ status: "FAILED", error: errorName, cause: message });
  }
}

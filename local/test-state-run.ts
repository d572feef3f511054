// The tested state run once, as the first state of a machine of its own, on the stack's runner or with a mock.
import type { StateMachine } from "aws-local-stepfunctions";
import { type EventLog, type RunnerOptions, StateMachineRunner, validatedStateMachine } from "./state-machine-runner";
import { refusalOf, type State, type TestCase } from "./test-state-request";

/** What a tested Task state calls: the stack runner's own handlers and clients, so the real handler runs. */
export type TestStateServices = Omit<RunnerOptions, "definition">;

/**
 * The tested state first, without Retry (TestState never retries) and, for a Task, without the result processing
 * (applied afterwards, step by step); each target a Succeed state, so the run names the next state. A state that
 * targets itself gets a placeholder of another name.
 */
export function oneStateMachine(testCase: TestCase) {
  const { name, state } = testCase;
  const again = `${name.slice(0, 70)} (again)`;
  const placeholder = (target: string) => (target === name ? again : target);
  const runnable: State = structuredClone(state);
  delete runnable.Retry;
  if (state.Type === "Task") {
    for (const field of ["ResultSelector", "ResultPath", "OutputPath"]) delete runnable[field];
  }
  const targets: string[] = [];
  const retarget = (holder: Record<string, unknown>, field: string) => {
    if (typeof holder[field] !== "string") return;
    targets.push(placeholder(holder[field]));
    holder[field] = placeholder(holder[field]);
  };
  retarget(runnable, "Next");
  retarget(runnable, "Default");
  for (const rule of (runnable.Choices ?? []) as Record<string, unknown>[]) retarget(rule, "Next");
  for (const catcher of (runnable.Catch ?? []) as Record<string, unknown>[]) retarget(catcher, "Next");
  const machine = {
    StartAt: name,
    States: { [name]: runnable, ...Object.fromEntries(targets.map((target) => [target, { Type: "Succeed" }])) },
  };
  return { machine, targetOf: (entered: string) => (entered === again ? name : entered) };
}

interface Run {
  events: EventLog[];
  /** The resolved Parameters each call of the task's resource received (a run on the stack's runner only). */
  parameters: unknown[];
  /** True when the run was stopped at TestState's time limit. */
  done: Promise<boolean>;
  stop: () => void;
}

export function startRun(
  machine: { States: Record<string, unknown> },
  testCase: TestCase,
  services: TestStateServices,
  ids: { stateMachineArn: string; executionArn: string; name: string },
): Run {
  let stopped = false;
  if (!testCase.mock) {
    let runner: StateMachineRunner;
    try {
      runner = new StateMachineRunner({ ...services, definition: machine });
    } catch (problem) {
      throw refusalOf(problem, machine);
    }
    const running = runner.start(testCase.input, ids);
    const stop = () => {
      stopped = true;
      running.stop();
    };
    return {
      events: running.events,
      parameters: running.tasks.map((call) => call.parameters),
      done: running.outcome.then(() => stopped),
      stop,
    };
  }
  const { result, errorOutput } = testCase.mock;
  const mocked = () => {
    if (!errorOutput) return result;
    const error = new Error(errorOutput.cause ?? "");
    error.name = errorOutput.error ?? "";
    throw error;
  };
  let mockedMachine: StateMachine;
  try {
    mockedMachine = validatedStateMachine(machine);
  } catch (problem) {
    throw refusalOf(problem, machine);
  }
  const execution = mockedMachine.run(testCase.input as never, {
    overrides: { taskResourceLocalHandlers: { [testCase.name]: mocked as never } },
    context: contextOf(testCase, ids) as never,
    noThrowOnAbort: true,
  });
  const events: EventLog[] = [];
  const collected = (async () => {
    for await (const event of execution.eventLogs) events.push(event as EventLog);
  })();
  const stop = () => {
    stopped = true;
    execution.abort();
  };
  const done = execution.result.then(
    () => undefined,
    () => undefined,
  );
  return { events, parameters: [], done: Promise.all([done, collected]).then(() => stopped), stop };
}

/** The context object ($$) the run and the data-flow steps see; a mocked test may give its own. */
export function contextOf(testCase: TestCase, ids: { stateMachineArn: string; executionArn: string; name: string }) {
  return {
    Execution: { Id: ids.executionArn, Name: ids.name },
    StateMachine: { Id: ids.stateMachineArn, Name: "TestState" },
    State: { Name: testCase.name, EnteredTime: new Date().toISOString(), RetryCount: testCase.retryCount },
    Task: { Token: crypto.randomUUID() },
    ...testCase.context,
  };
}

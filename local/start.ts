// `npm start`: the whole pipeline on this machine, on loopback, with no AWS account. Flags are listed by --help.
import { DEFAULT_MODEL_ID, findModel, MODEL_CATALOG } from "../functions/shared/models/catalog";
import { LIFECYCLE_STATUSES, type StandInLifecycleStatus } from "./bedrock-stand-in/model-lifecycle";
import { CommandLine } from "./command-line";
import type { LocalStack, LocalStackOptions } from "./local-stack";
import { DEFAULT_BEDROCK_CONCURRENCY, DEFAULT_PORTS, type LocalPorts } from "./local-stack-defaults";
import { StartRefusedError } from "./start-refusals";

const started = performance.now();

/** Each flag also reads `COUCHGEN_LOCAL_<NAME>` (e.g. COUCHGEN_LOCAL_API_PORT=8080). */
const FLAGS = {
  help: { type: "boolean", description: "show this help" },
  fresh: {
    type: "boolean",
    description: "start empty: delete what a stack wrote in the data directory (refused while a stack uses it)",
  },
  "data-dir": { type: "string", description: "where S3 objects, tables and executions are kept (default .local/)" },
  "api-port": { type: "string", description: `local API Gateway (default ${DEFAULT_PORTS.api})` },
  "sfn-port": { type: "string", description: `Step Functions endpoint (default ${DEFAULT_PORTS.stepFunctions})` },
  "sqs-port": { type: "string", description: `SQS emulator (default ${DEFAULT_PORTS.sqs})` },
  "s3-port": { type: "string", description: `S3 emulator (default ${DEFAULT_PORTS.s3})` },
  "dynamodb-port": { type: "string", description: `DynamoDB emulator (default ${DEFAULT_PORTS.dynamodb})` },
  "sns-port": { type: "string", description: `SNS emulator (default ${DEFAULT_PORTS.sns})` },
  "bedrock-port": { type: "string", description: `Bedrock stand-in (default ${DEFAULT_PORTS.bedrock})` },
  "console-port": {
    type: "string",
    description: `the local console in a browser (default ${DEFAULT_PORTS.console}; if taken, a free port)`,
  },
  "model-id": { type: "string", description: `the deployment's default model (default ${DEFAULT_MODEL_ID})` },
  "allowed-model-ids": {
    type: "string",
    description: "comma-separated models a request may name in `model` (default: every model in the catalog)",
  },
  "key-prefix": { type: "string", description: "S3 key prefix (default local)" },
  "api-key": { type: "string", description: "require this x-api-key on the local API (default: none)" },
  "retry-time-scale": { type: "string", description: "multiply the state machine's retry intervals (default 1)" },
  "bedrock-concurrency": {
    type: "string",
    description: "generators at once: the waiting room's event source concurrency, as deployed (default 5, as on AWS)",
  },
  "bedrock-latency-ms": { type: "string", description: "stand-in latency per request (default 0)" },
  "bedrock-max-rps": {
    type: "string",
    description: "stand-in quota in requests/s; over it: ThrottlingException (default none)",
  },
  "bedrock-throttle-rate": {
    type: "string",
    description: "share of requests answered ThrottlingException, 0-1 (default 0)",
  },
  "bedrock-timeout-rate": { type: "string", description: "share answered ModelTimeoutException, 0-1 (default 0)" },
  "bedrock-server-error-rate": {
    type: "string",
    description: "share answered ServiceUnavailableException, 0-1 (default 0)",
  },
  "bedrock-block-word": {
    type: "string",
    description: "prompts containing it are refused by the 'content filter' (default forbidden-landmark)",
  },
  "bedrock-model-status": {
    type: "string",
    multiple: true,
    description:
      "<modelId>=ACTIVE|LEGACY|EOL, repeatable (env: comma-separated): EOL models are refused (default: catalog)",
  },
  quiet: { type: "boolean", description: "do not log each request" },
} as const;

function envName(flag: string): string {
  return `COUCHGEN_LOCAL_${flag.replace(/-/g, "_").toUpperCase()}`;
}

const commandLine = new CommandLine("npm start", FLAGS, (flag) => `  [${envName(flag)}]`);
const fail = (message: string): never => commandLine.fail(message);

/** Flags that were renamed: given the old name, npm start says what to use instead rather than "Unknown option". */
const RENAMED_FLAGS: Record<string, { to: keyof typeof FLAGS; why: string }> = {
  "generate-concurrency": {
    to: "bedrock-concurrency",
    why: "GenerateImage has no reserved concurrency any more: jobs wait in the waiting room (the generate queue), and the generators that take them, at most this many at once, are what calls Bedrock",
  },
};

function refuseRenamedFlags(args: string[]): void {
  for (const [old, { to, why }] of Object.entries(RENAMED_FLAGS)) {
    const given = args.some((arg) => arg === `--${old}` || arg.startsWith(`--${old}=`));
    if (given) fail(`--${old} was replaced by --${to}: ${why}`);
    if (process.env[envName(old)] !== undefined) fail(`${envName(old)} was replaced by ${envName(to)}: ${why}`);
  }
}

function parseFlags() {
  refuseRenamedFlags(process.argv.slice(2));
  const values = commandLine.parse();
  const read = (flag: keyof typeof FLAGS) => values[flag] ?? process.env[envName(flag)];
  const number = (flag: keyof typeof FLAGS, min: number, max: number): number | undefined => {
    const raw = read(flag);
    if (raw === undefined || raw === "") return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max)
      fail(`--${flag} must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return value;
  };
  const port = (flag: keyof typeof FLAGS) => number(flag, 0, 65535);
  const text = (flag: keyof typeof FLAGS) => {
    const raw = read(flag);
    return typeof raw === "string" && raw !== "" ? raw : undefined;
  };
  const flag = (name: keyof typeof FLAGS) => read(name) === true || read(name) === "true" || read(name) === "1";
  const modelStatuses = (): Record<string, StandInLifecycleStatus> | undefined => {
    const given = values["bedrock-model-status"] ?? process.env[envName("bedrock-model-status")]?.split(",");
    const entries = (given ?? []).map((entry) => entry.trim()).filter((entry) => entry !== "");
    if (entries.length === 0) return undefined;
    return Object.fromEntries(
      entries.map((entry) => {
        const [modelId = "", status = "", ...rest] = entry.split("=");
        const known = LIFECYCLE_STATUSES.find((accepted) => accepted === status.toUpperCase());
        if (modelId === "" || !known || rest.length > 0) {
          return fail(
            `--bedrock-model-status must be <modelId>=<${LIFECYCLE_STATUSES.join("|")}>, e.g. amazon.nova-canvas-v1:0=EOL; got ${JSON.stringify(entry)}`,
          );
        }
        if (!findModel(modelId)) {
          return fail(
            `--bedrock-model-status: ${JSON.stringify(modelId)} is not a model in the catalog; use one of ${MODEL_CATALOG.map((model) => model.id).join(", ")}`,
          );
        }
        return [modelId, known];
      }),
    );
  };
  const ports: Partial<LocalPorts> = {};
  const portFlags = [
    ["api", "api-port"],
    ["stepFunctions", "sfn-port"],
    ["sqs", "sqs-port"],
    ["s3", "s3-port"],
    ["dynamodb", "dynamodb-port"],
    ["sns", "sns-port"],
    ["bedrock", "bedrock-port"],
    ["console", "console-port"],
  ] as const;
  for (const [key, name] of portFlags) {
    const value = port(name);
    if (value !== undefined) ports[key] = value;
  }
  const bedrock = Object.fromEntries(
    Object.entries({
      latencyMs: number("bedrock-latency-ms", 0, 600_000),
      maxRequestsPerSecond: number("bedrock-max-rps", 0.001, 1_000_000),
      throttleRate: number("bedrock-throttle-rate", 0, 1),
      timeoutRate: number("bedrock-timeout-rate", 0, 1),
      serverErrorRate: number("bedrock-server-error-rate", 0, 1),
      contentFilterWord: text("bedrock-block-word"),
      modelLifecycle: modelStatuses(),
    }).filter(([, value]) => value !== undefined),
  );
  return {
    help: flag("help"),
    quiet: flag("quiet"),
    options: {
      fresh: flag("fresh"),
      dataDir: text("data-dir"),
      ports,
      modelId: text("model-id"),
      allowedModelIds: text("allowed-model-ids")
        ?.split(",")
        .map((id) => id.trim())
        .filter((id) => id !== ""),
      keyPrefix: text("key-prefix"),
      apiKey: text("api-key"),
      retryTimeScale: number("retry-time-scale", 0.0001, 100),
      waitingRoom: { bedrockConcurrency: number("bedrock-concurrency", 1, 1000) },
      bedrock,
    },
  };
}

function banner(stack: LocalStack, readyMs: number, options: LocalStackOptions): string {
  const { apiKey } = options;
  const bedrockConcurrency = options.waitingRoom?.bedrockConcurrency ?? DEFAULT_BEDROCK_CONCURRENCY;
  const generators = `${bedrockConcurrency} generator${bedrockConcurrency === 1 ? "" : "s"}`;
  const cli = "aws --no-sign-request --region us-east-1";
  const keyHeader = apiKey ? ` -H 'x-api-key: ${apiKey}'` : "";
  const sqsUrl = new URL(stack.queueUrl).origin;
  const redelivered = stack.redelivered
    ? `\nRedelivered ${stack.redelivered} queued message(s) kept from the last run to start-job.`
    : "";
  const deadLetters = stack.deadLetters
    ? `\nThe DLQ still holds ${stack.deadLetters} message(s) from the last run.`
    : "";
  const resumed = stack.resumed.length
    ? `\nResumed ${stack.resumed.length} execution(s) that were running when the stack last stopped.`
    : "";
  return `
couch-imagegen local stack: ready in ${Math.round(readyMs)} ms (everything on 127.0.0.1, no AWS account used)
${resumed}${redelivered}${deadLetters}
  API                 ${stack.apiUrl}        POST /generate-image, GET /jobs/{jobId}
  SQS queue           ${stack.queueUrl}
  SQS dead letters    ${stack.dlqUrl}
  Waiting room        ${stack.generateQueueUrl}        ${generators} call Bedrock at once (--bedrock-concurrency)
  Waiting room DLQ    ${stack.generateDlqUrl}
  Step Functions      ${stack.stepFunctionsUrl}        state machine ${stack.stateMachineArn}
  TestState (sync-)   SDK: disableHostPrefix: true; aws: AWS_DISABLE_HOST_PREFIX_INJECTION=true, or any version: http_proxy=${stack.stepFunctionsUrl} no_proxy=
  S3                  ${stack.s3Url}        bucket ${stack.bucket}, images under ${stack.keyPrefix}/generated_images/
  DynamoDB            ${stack.dynamodbUrl}        table ${stack.tableName}
  SNS (alerts)        ${stack.snsUrl}        topic ${stack.alertsTopicArn}
  Bedrock STAND-IN    ${stack.bedrockUrl}        NOT a model: deterministic placeholder images
  Console             ${stack.consoleUrl}        executions, their graphs and images, start/stop/redrive, alerts (a browser)
  Models              default ${stack.modelId}; a request may name any of ${stack.allowedModelIds.length} in "model" (docs/MODELS.md)
  Data                ${stack.dataDir}        (npm start -- --fresh starts empty)

Try it:
  curl -s -X POST ${stack.apiUrl}/generate-image -H 'Content-Type: application/json'${keyHeader} -d '{"prompt":"a lighthouse at dawn"}'
  curl -s ${stack.apiUrl}/jobs/<jobId>${keyHeader}
  ${cli} sqs send-message --endpoint-url ${sqsUrl} --queue-url ${stack.queueUrl} --message-body 'me on top of a pyramid'
  ${cli} stepfunctions list-executions --endpoint-url ${stack.stepFunctionsUrl} --state-machine-arn ${stack.stateMachineArn}
  ${cli} s3 ls --endpoint-url ${stack.s3Url} s3://${stack.bucket}/${stack.keyPrefix}/generated_images/
  ${cli} sqs receive-message --endpoint-url ${sqsUrl} --queue-url ${stack.alertsInboxUrl}   (failure notifications)

Ctrl-C stops everything.
`;
}

async function main(): Promise<void> {
  const { help, quiet, options } = parseFlags();
  if (help) {
    process.stdout.write(commandLine.usage());
    return;
  }
  let stack: LocalStack | undefined;
  let stopping = false;
  const stop = async (reason: string, code: number) => {
    // Before the stack is up, or a second Ctrl-C while it stops: leave now (the data directory's lock goes on exit).
    if (!stack || stopping) process.exit(code === 0 ? 130 : code);
    stopping = true;
    console.log(`\n${reason}: stopping (waiting up to 5 s for running executions)...`);
    await stack.stop();
    console.log("Stopped; ports are free.");
    process.exit(code);
  };
  process.on("SIGINT", () => void stop("SIGINT", 0));
  process.on("SIGTERM", () => void stop("SIGTERM", 0));
  // A bug must not leave the ports or the data directory's lock taken: say what failed, stop, exit 1.
  const crash = (error: unknown) => {
    process.stderr.write(`The local stack failed: ${describeError(error)}\n`);
    void stop("Failure", 1);
  };
  process.on("uncaughtException", crash);
  process.on("unhandledRejection", crash);
  // Loaded only now: a refused flag or --help answers without starting the emulators' and handlers' modules.
  const { startLocalStack } = await import("./local-stack");
  stack = await startLocalStack({ ...options, log: quiet ? () => undefined : (line) => console.log(line) });
  process.stdout.write(banner(stack, performance.now() - started, options));
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

main().catch((error: unknown) => {
  process.stderr.write(
    error instanceof StartRefusedError
      ? `${error.message}\n`
      : `The local stack could not start: ${describeError(error)}\n`,
  );
  process.exit(1);
});

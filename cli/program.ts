import { Command, CommanderError, Option } from "commander";
import { DEFAULT_BEDROCK_REGION, DEFAULT_MODEL_ID } from "../functions/shared/models/catalog";
import {
  type CommandContext,
  enqueueCommand,
  generateCommand,
  type ModelsFlags,
  modelsCommand,
  statusCommand,
  type WaitFlags,
  waitCommand,
} from "./commands";
import { type Environment, type GlobalOptions, LOCAL_STACK } from "./config";
import { CliError, ExitCode, type ExitCodeValue } from "./exit-codes";
import {
  type ImageRequestOptions,
  OUTPUT_FORMATS,
  parseAspectRatio,
  parseModelId,
  parseSeed,
  parseSize,
  secondsParser,
} from "./image-request";
import { Output, type OutputStream } from "./output";

export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Environment;
  /** The clock `models` compares end-of-life dates with. @default the system clock */
  now?: () => Date;
}

const HELP_AFTER = `
Settings (a flag wins over --local, which wins over the environment):
  SQS_QUEUE_URL      or --queue-url   queue for enqueue (AWS credentials and region: the usual AWS_* variables or AWS_PROFILE)
  COUCHGEN_API_URL   or --api-url     REST API with its stage, for generate, status and wait
  COUCHGEN_API_KEY   or --api-key     sent as x-api-key when the API requires a key
  BEDROCK_REGION     or --region      models: the region the pipeline calls Bedrock in (default ${DEFAULT_BEDROCK_REGION})
  --local            the local stack (npm start): API ${LOCAL_STACK.apiUrl}, queue ${LOCAL_STACK.queueUrl},
                     Bedrock stand-in ${LOCAL_STACK.bedrockUrl}

Exit codes:
  0 ok  1 unexpected error  2 usage or settings  3 refused by the API/SQS/Bedrock (4xx)  4 no such job
  5 job FAILED  6 job REJECTED  7 --timeout passed  8 service unreachable or 5xx (retry later)
  9 models --check: a model is past its end of life, not found in the region, or unknown  130 Ctrl-C

Examples:
  couchgen "me on top of a pyramid"                       enqueue (the command when none is named)
  couchgen --local generate "a lighthouse at dawn" --aspect-ratio 16:9 --format jpeg --out lighthouse.jpg
  couchgen --local wait <jobId> --out picture.png
  couchgen status <jobId> --json
  couchgen models --check --region us-west-2 --model ${DEFAULT_MODEL_ID}
`;

/**
 * The commander program. Global options are accepted before or after the command; `enqueue` is the default command,
 * so `couchgen "prompt"` (the old Java client's usage, and the container's) enqueues.
 */
export function buildProgram(io: CliIo, output: Output, setExitCode: (code: ExitCodeValue) => void): Command {
  const program = new Command("couchgen")
    .description("Send prompts to couch-imagegen, follow jobs to the end and fetch the pictures.")
    .option("--json", "print one JSON document on stdout, errors included; no spinner")
    .option("--local", "use the local stack's default endpoints (npm start)")
    .option("--queue-url <url>", "SQS queue URL [env: SQS_QUEUE_URL]")
    .option("--api-url <url>", "REST API URL with its stage [env: COUCHGEN_API_URL]")
    .option("--api-key <key>", "API key, sent as x-api-key [env: COUCHGEN_API_KEY]")
    .option("--debug", "show stack traces with errors")
    .addHelpText("after", HELP_AFTER)
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Parse errors are reported by runCli, in the same shape (and the same --json document) as every other error.
      outputError: () => undefined,
    });

  const context = (command: Command): CommandContext => ({
    options: command.optsWithGlobals<GlobalOptions>(),
    env: io.env,
    output,
    now: io.now ?? (() => new Date()),
  });

  withWaitOptions(
    withRequestOptions(
      program
        .command("enqueue", { isDefault: true })
        .summary("put a prompt on the SQS queue (the default command)")
        .description(
          'Put one image request on the SQS queue and print the message id, which is also the jobId.\nThis is the command when none is named: couchgen "me on top of a pyramid".',
        )
        .argument("<prompt>", "what to draw (quote it)"),
    ),
  ).action(async (prompt: string, flags: ImageRequestOptions & WaitFlags, command: Command) => {
    setExitCode(await enqueueCommand(prompt, flags, context(command)));
  });

  withWaitOptions(
    withRequestOptions(
      program
        .command("generate")
        .summary("start a job through the REST API")
        .description("Start a job through the REST API (POST /generate-image) and print its jobId.")
        .argument("<prompt>", "what to draw (quote it)")
        .option("--idempotency-key <key>", "names the job; sending the same request again returns the same job"),
    ),
  ).action(async (prompt: string, flags: ImageRequestOptions & WaitFlags & { idempotencyKey?: string }, command) => {
    setExitCode(await generateCommand(prompt, flags, context(command)));
  });

  program
    .command("status")
    .summary("show a job's status")
    .description("Show a job's status (GET /jobs/{jobId}); exits 0 whatever the state, 4 for an unknown job.")
    .argument("<jobId>", "the jobId that enqueue or generate printed")
    .action(async (jobId: string, _flags: unknown, command: Command) => {
      setExitCode(await statusCommand(jobId, context(command)));
    });

  withWaitOptions(
    program
      .command("wait")
      .summary("follow a job to its end")
      .description(
        "Follow a job until it ends and print its image's S3 URI.\nExits 5 when the job FAILED and 6 when it was REJECTED, with the recorded cause.",
      )
      .argument("<jobId>", "the jobId that enqueue or generate printed")
      .option(
        "--start-timeout <seconds>",
        "how long the job may stay unknown (a queued message becomes a job when the consumer takes it)",
        secondsParser(0),
        30,
      ),
    false,
  ).action(async (jobId: string, flags: WaitFlags & { startTimeout: number }, command: Command) => {
    setExitCode(await waitCommand(jobId, flags, context(command)));
  });

  program
    .command("models")
    .summary("check the models' lifecycle in Bedrock (before a deploy)")
    .description(
      "Ask Bedrock (GetFoundationModel, GetFoundationModelAvailability) about each model in the pipeline's region: " +
        "ACTIVE, LEGACY or past its end of life, the dates, whether this caller may invoke it, and the replacement.\n\n" +
        "With --check, exits 9 when a model is past its end of life, not found in the region, or unknown to couchgen; " +
        "a LEGACY model with a future end of life is a warning. Needs bedrock:GetFoundationModel and " +
        "bedrock:GetFoundationModelAvailability.",
    )
    .option(
      "--model <id>",
      `a model or inference profile id; repeat it for several (default ${DEFAULT_MODEL_ID})`,
      collect,
    )
    .addOption(new Option("--all", "every model couchgen knows").conflicts("model"))
    .option(
      "--region <region>",
      `the region Bedrock is called in [env: BEDROCK_REGION] (default ${DEFAULT_BEDROCK_REGION})`,
    )
    .option("--check", "exit 9 when a model is not usable (for CI, before cdk deploy)")
    .action(async (flags: ModelsFlags, command: Command) => {
      setExitCode(await modelsCommand(flags, context(command)));
    });

  return program;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function withRequestOptions(command: Command): Command {
  return command
    .option(
      "--model <id>",
      "the Bedrock model id, one the deployment allows (omit it for the deployment's default)",
      parseModelId,
    )
    .option(
      "--aspect-ratio <W:H>",
      "aspectRatio, e.g. 16:9 (the model's list is the pipeline's to check)",
      parseAspectRatio,
    )
    .addOption(new Option("--format <format>", "outputFormat of the image").choices(OUTPUT_FORMATS))
    .option("--negative <text>", "what to keep out of the picture (negativePrompt)")
    .option("--seed <n>", "seed, for the same picture again", parseSeed)
    .addOption(
      new Option("--size <WxH>", "width x height in pixels, e.g. 1024x1024 (Nova Canvas and Titan only)")
        .argParser(parseSize)
        .conflicts("aspectRatio"),
    )
    .option("--quality <quality>", "standard or premium (Nova Canvas and Titan only)");
}

function withWaitOptions(command: Command, withWaitFlag = true): Command {
  if (withWaitFlag) command.option("--wait", "follow the job to its end (as the wait command does)");
  return command
    .option(
      "--out <file>",
      `save the image there (a directory gets <jobId>.png, or .jpg for a JPEG)${withWaitFlag ? "; implies --wait" : ""}`,
    )
    .option("--timeout <seconds>", "give up waiting after this long (exit 7; the job goes on)", secondsParser(1), 600)
    .option(
      "--interval <seconds>",
      "longest time between status requests (they start at 0.25 s)",
      secondsParser(0.1),
      1,
    );
}

/** Runs one couchgen invocation and answers its exit code; never throws, never prints a stack trace unless --debug. */
export async function runCli(argv: string[], io: CliIo): Promise<ExitCodeValue> {
  const output = new Output(flagGiven(argv, "--json"), io.stdout, io.stderr, io.env);
  let exitCode: ExitCodeValue = ExitCode.Ok;
  const program = buildProgram(io, output, (code) => {
    exitCode = code;
  });
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return ExitCode.Usage;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (error) {
    return reportError(error, output, io, flagGiven(argv, "--debug"));
  }
}

function reportError(error: unknown, output: Output, io: CliIo, debug: boolean): ExitCodeValue {
  if (error instanceof CommanderError) {
    // --help and help: commander has printed it.
    if (error.exitCode === 0) return ExitCode.Ok;
    const hint =
      error.code === "commander.excessArguments"
        ? '\nQuote a prompt that has spaces: couchgen "me on top of a pyramid"'
        : "\nSee: couchgen --help";
    output.error(`${error.message.replace(/^error: /, "")}${hint}`, { exitCode: ExitCode.Usage });
    return ExitCode.Usage;
  }
  if (error instanceof CliError) {
    output.error(error.message, { exitCode: error.exitCode, ...error.details });
    if (debug) io.stderr.write(`${stackOf(error)}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  output.error(`unexpected error: ${message}${debug ? "" : "\n(run again with --debug for the stack trace)"}`, {
    exitCode: ExitCode.Unexpected,
  });
  if (debug) io.stderr.write(`${stackOf(error)}\n`);
  return ExitCode.Unexpected;
}

function stackOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `\nCaused by: ${stackOf(error.cause)}` : "";
  return `${error.stack ?? error.message}${cause}`;
}

/** A global flag, looked for before commander has parsed (its own errors must honour --json too). */
function flagGiven(argv: string[], flag: string): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes(flag);
}

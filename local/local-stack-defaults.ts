// The local stack's ports and defaults, apart from the modules that start it: `npm start` reads them to parse its
// flags and answer --help before it loads any emulator or handler.

export interface LocalPorts {
  api: number;
  stepFunctions: number;
  sqs: number;
  s3: number;
  dynamodb: number;
  sns: number;
  bedrock: number;
  /**
   * The local console (local/console). When not given and its default is taken, the console takes a free port and
   * says so, rather than stop the stack: other stacks (tests, a second `npm start`) leave it out.
   */
  console?: number;
}

/** Fixed defaults so printed commands keep working between runs; 0 picks a free port (the tests do). */
export const DEFAULT_PORTS: LocalPorts = {
  api: 4600,
  stepFunctions: 4601,
  sqs: 4602,
  s3: 4603,
  dynamodb: 4604,
  sns: 4605,
  bedrock: 4606,
  console: 4607,
};

/** Every port free (0): what the tests and the benchmark use, so stacks in parallel never share one. */
export const FREE_PORTS: Required<LocalPorts> = {
  api: 0,
  stepFunctions: 0,
  sqs: 0,
  s3: 0,
  dynamodb: 0,
  sns: 0,
  bedrock: 0,
  console: 0,
};

/** The event source mapping's default MaximumConcurrency on AWS (`bedrockConcurrency`, infra/config.ts). */
export const DEFAULT_BEDROCK_CONCURRENCY = 5;

// The JSON the console's server answers its page with: one contract for local/console/server.ts and client/.

/** What the start form offers for one model (from the catalog and its family's limits). */
export interface ConsoleModel {
  id: string;
  name: string;
  aspectRatios: string[];
  /** Whether the model takes `width` and `height` (pixel sizes) as well as an aspect ratio. */
  takesPixels: boolean;
  qualities: string[];
  outputFormats: string[];
  acceptsNegativePrompt: boolean;
}

export interface ConsoleConfig {
  stateMachineArn: string;
  defaultModelId: string;
  models: ConsoleModel[];
  /** The stack's Bedrock is the local stand-in: its images are placeholders, and the page says so. */
  bedrockIsStandIn: boolean;
}

/** One row of the executions list. */
export interface ExecutionRow {
  executionArn: string;
  name: string;
  status: string;
  /** Epoch milliseconds. */
  startDate: number;
  stopDate?: number;
  /** Read from the execution input once (DescribeExecution); absent until the index has read it. */
  facts?: ExecutionFacts;
}

/** What an execution's input says about its job; the input never changes, so it is read once per execution. */
export interface ExecutionFacts {
  jobId: string;
  /** The prompt as sent, cut to MAX_INDEXED_PROMPT characters; a non-text prompt is shown as its JSON. */
  prompt: string;
  /** The `model` the request named, else the stack's default model. */
  model: string;
  /** True when the request named no model. */
  modelIsDefault: boolean;
  /** `api` or `sqs`, as start-job wrote it. */
  source: string;
}

export interface ExecutionPage {
  items: ExecutionRow[];
  /** 1-based. */
  page: number;
  pageSize: number;
  /** Executions that match the status filter and the search. */
  total: number;
  /** Every execution of the state machine. */
  executions: number;
  /** Executions whose input has been read: a search covers only these. */
  indexed: number;
  /** False while the console's first listing is still going: `executions` (and an unfiltered `total`) count so far. */
  complete: boolean;
}

/** One history event as GetExecutionHistory returns it, the timestamp as ISO-8601. */
export interface HistoryEventJson {
  id: number;
  previousEventId?: number;
  timestamp: string;
  type: string;
  [details: string]: unknown;
}

export interface ExecutionDescription {
  executionArn: string;
  name: string;
  status: string;
  startDate: string;
  stopDate?: string;
  input?: string;
  output?: string;
  error?: string;
  cause?: string;
  redriveCount?: number;
  redriveStatus?: string;
  redriveStatusReason?: string;
}

/** The image of a SUCCEEDED job: where it is, and its S3 object metadata (HeadObject). */
export interface ExecutionImage {
  s3Uri: string;
  /** The console's own URL that serves the object (GetObject). */
  url: string;
  contentType?: string;
  bytes?: number;
  /** The object metadata as stored, the prompt URI-decoded. */
  metadata: Record<string, string>;
}

export interface ExecutionDetail {
  execution: ExecutionDescription;
  history: HistoryEventJson[];
  /** The state machine's ASL (DescribeStateMachine), parsed. */
  definition: Record<string, unknown>;
  /** GET /jobs/{jobId} as the local API answers it: the status record, or why there is none. */
  job: { status: number; body: Record<string, unknown> } | { error: string };
  image?: ExecutionImage;
  /** Why the image could not be read, when the job SUCCEEDED. */
  imageError?: string;
}

/** A failure notice as the alerts topic delivered it to the console's own queue. */
export interface ConsoleAlert {
  /** The SNS message id. */
  id: string;
  subject: string;
  message: string;
  /** When SNS published it (ISO-8601), else when the console read it. */
  sentAt: string;
  /** Executions the notice names, in its order. */
  executions: { name: string; executionArn: string }[];
}

/** An action's failure, as the page shows it. */
export interface ConsoleError {
  error: string;
  message: string;
}

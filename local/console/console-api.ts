import { GetObjectCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  DescribeStateMachineCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  RedriveExecutionCommand,
  SFNClient,
  StopExecutionCommand,
} from "@aws-sdk/client-sfn";
import { parseS3Uri } from "../../functions/shared/image-keys";
import { findModel } from "../../functions/shared/models/catalog";
import { limitsOf } from "../../functions/shared/models/families";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../emulators";
import type {
  ConsoleConfig,
  ExecutionDescription,
  ExecutionDetail,
  ExecutionImage,
  HistoryEventJson,
} from "./api-types";
import type { ExecutionIndexSource, ListedExecution } from "./execution-index";

export interface ConsoleApiOptions {
  stepFunctionsUrl: string;
  /** The local API: jobs are started through POST /generate-image, records read with GET /jobs/{jobId}. */
  apiUrl: string;
  /** The local API's key, when the stack requires one. */
  apiKey?: string;
  s3Url: string;
  stateMachineArn: string;
  defaultModelId: string;
  allowedModelIds: readonly string[];
}

/** A refusal the page shows as it is: what was wrong, with the status to answer. */
export class ConsoleRequestError extends Error {
  constructor(
    readonly status: number,
    readonly errorName: string,
    message: string,
  ) {
    super(message);
  }
}

const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/**
 * What the console reads and does, through the stack's own APIs only, as a person with the AWS CLI would: the Step
 * Functions endpoint (list, describe, history, the definition, stop, redrive), the local API (start a job, its status
 * record) and S3 (the image and its metadata).
 */
export class ConsoleApi {
  readonly sfn: SFNClient;
  private readonly s3: S3Client;
  private definition: Promise<Record<string, unknown>> | undefined;

  constructor(private readonly options: ConsoleApiOptions) {
    const clientConfig = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
    this.sfn = new SFNClient({ ...clientConfig, endpoint: options.stepFunctionsUrl });
    this.s3 = new S3Client({
      ...clientConfig,
      endpoint: options.s3Url,
      forcePathStyle: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  config(): ConsoleConfig {
    return {
      stateMachineArn: this.options.stateMachineArn,
      defaultModelId: this.options.defaultModelId,
      models: this.options.allowedModelIds.flatMap((id) => {
        const resolved = findModel(id);
        if (!resolved) return [];
        const limits = limitsOf(resolved);
        return [
          {
            id,
            name: resolved.model.name,
            aspectRatios: Object.keys(limits.aspectRatios),
            takesPixels: limits.pixels !== undefined,
            qualities: [...(limits.qualities ?? [])],
            outputFormats: [...limits.outputFormats],
            acceptsNegativePrompt: limits.maxNegativePromptLength !== undefined,
          },
        ];
      }),
      bedrockIsStandIn: true,
    };
  }

  /** ListExecutions and DescribeExecution, for the execution index. */
  indexSource(): ExecutionIndexSource {
    const stateMachineArn = this.options.stateMachineArn;
    return {
      list: async ({ statusFilter, nextToken, maxResults }) => {
        const page = await this.sfn.send(
          new ListExecutionsCommand({
            stateMachineArn,
            maxResults,
            nextToken,
            statusFilter: statusFilter as never,
          }),
        );
        return {
          executions: (page.executions ?? []).map((item) => listed(item)),
          ...(page.nextToken ? { nextToken: page.nextToken } : {}),
        };
      },
      describe: async (executionArn) => {
        const described = await this.sfn.send(new DescribeExecutionCommand({ executionArn }));
        return { ...listed(described), input: described.input ?? "{}" };
      },
    };
  }

  executionArn(name: string): string {
    if (!EXECUTION_NAME.test(name)) {
      throw new ConsoleRequestError(
        400,
        "InvalidName",
        "An execution name is 1 to 80 characters of A-Z, a-z, 0-9, _ and -",
      );
    }
    return `${this.options.stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
  }

  /** Everything the execution page shows, read at once: the page polls it while the execution runs. */
  async detail(name: string): Promise<ExecutionDetail> {
    const executionArn = this.executionArn(name);
    const [described, history, definition, job] = await Promise.all([
      this.sfn.send(new DescribeExecutionCommand({ executionArn })),
      this.history(executionArn),
      this.stateMachineDefinition(),
      this.jobRecord(name),
    ]);
    const detail: ExecutionDetail = { execution: description(described), history, definition, job };
    const s3Uri = "body" in job && job.body.status === "SUCCEEDED" ? job.body.s3Uri : undefined;
    if (typeof s3Uri === "string") {
      try {
        detail.image = await this.imageFacts(name, s3Uri);
      } catch (error) {
        detail.imageError = `HeadObject ${s3Uri}: ${errorText(error)}`;
      }
    }
    return detail;
  }

  /** The job's image from S3 (GetObject), found through its status record. */
  async image(name: string): Promise<{ bytes: Uint8Array; contentType: string }> {
    const job = await this.jobRecord(name);
    const s3Uri = "body" in job ? job.body.s3Uri : undefined;
    if (typeof s3Uri !== "string") throw new ConsoleRequestError(404, "NoImage", `Job ${name} has no image`);
    const { bucket, key } = parseS3Uri(s3Uri);
    const object = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return {
      bytes: await (object.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())),
      contentType: object.ContentType ?? "application/octet-stream",
    };
  }

  async stop(name: string): Promise<void> {
    await this.sfn.send(
      new StopExecutionCommand({ executionArn: this.executionArn(name), cause: "Stopped in the local console" }),
    );
  }

  async redrive(name: string): Promise<void> {
    await this.sfn.send(new RedriveExecutionCommand({ executionArn: this.executionArn(name) }));
  }

  /** POST /generate-image with the form's fields as they are: the API's answer, its 400 messages included. */
  async startJob(fields: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${this.options.apiUrl}/generate-image`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...this.apiKeyHeader() },
      body: JSON.stringify(fields),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  destroy(): void {
    this.sfn.destroy();
    this.s3.destroy();
  }

  private async history(executionArn: string): Promise<HistoryEventJson[]> {
    const events: HistoryEventJson[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken }));
      events.push(...(page.events ?? []).map(historyEvent));
      nextToken = page.nextToken;
    } while (nextToken);
    return events;
  }

  private stateMachineDefinition(): Promise<Record<string, unknown>> {
    this.definition ??= this.sfn
      .send(new DescribeStateMachineCommand({ stateMachineArn: this.options.stateMachineArn }))
      .then((machine) => JSON.parse(machine.definition ?? "{}") as Record<string, unknown>);
    // A failed read is tried again by the next page load.
    this.definition.catch(() => {
      this.definition = undefined;
    });
    return this.definition;
  }

  /** GET /jobs/{jobId} on the local API, as a client would call it. */
  private async jobRecord(name: string): Promise<ExecutionDetail["job"]> {
    try {
      const response = await fetch(`${this.options.apiUrl}/jobs/${encodeURIComponent(name)}`, {
        headers: this.apiKeyHeader(),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    } catch (error) {
      return { error: `GET /jobs/${name}: ${errorText(error)}` };
    }
  }

  private async imageFacts(name: string, s3Uri: string): Promise<ExecutionImage> {
    const { bucket, key } = parseS3Uri(s3Uri);
    const head = await this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const metadata = { ...(head.Metadata ?? {}) };
    if (metadata.prompt !== undefined) metadata.prompt = decodedPrompt(metadata.prompt);
    return {
      s3Uri,
      url: `/api/executions/${encodeURIComponent(name)}/image`,
      ...(head.ContentType ? { contentType: head.ContentType } : {}),
      ...(head.ContentLength !== undefined ? { bytes: head.ContentLength } : {}),
      metadata,
    };
  }

  private apiKeyHeader(): Record<string, string> {
    return this.options.apiKey ? { "x-api-key": this.options.apiKey } : {};
  }
}

function listed(item: {
  executionArn?: string;
  name?: string;
  status?: string;
  startDate?: Date;
  stopDate?: Date;
}): ListedExecution {
  return {
    executionArn: item.executionArn ?? "",
    name: item.name ?? "",
    status: item.status ?? "UNKNOWN",
    startDate: item.startDate?.getTime() ?? 0,
    ...(item.stopDate ? { stopDate: item.stopDate.getTime() } : {}),
  };
}

function description(described: DescribeExecutionCommandOutput): ExecutionDescription {
  return {
    executionArn: described.executionArn ?? "",
    name: described.name ?? "",
    status: described.status ?? "UNKNOWN",
    startDate: described.startDate?.toISOString() ?? "",
    ...(described.stopDate ? { stopDate: described.stopDate.toISOString() } : {}),
    ...(described.input !== undefined ? { input: described.input } : {}),
    ...(described.output !== undefined ? { output: described.output } : {}),
    ...(described.error !== undefined ? { error: described.error } : {}),
    ...(described.cause !== undefined ? { cause: described.cause } : {}),
    ...(described.redriveCount !== undefined ? { redriveCount: described.redriveCount } : {}),
    ...(described.redriveStatus !== undefined ? { redriveStatus: described.redriveStatus } : {}),
    ...(described.redriveStatusReason !== undefined ? { redriveStatusReason: described.redriveStatusReason } : {}),
  };
}

function historyEvent(event: HistoryEvent): HistoryEventJson {
  const { timestamp, id, previousEventId, type, ...details } = event;
  return {
    ...details,
    id: id ?? 0,
    ...(previousEventId !== undefined ? { previousEventId } : {}),
    timestamp: timestamp?.toISOString() ?? "",
    type: type ?? "",
  };
}

/** The generator stores the prompt URI-encoded (S3 metadata is ASCII). */
function decodedPrompt(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

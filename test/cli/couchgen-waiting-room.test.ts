// Verifies what couchgen shows of the waiting room in front of Bedrock: `wait` reports a WAITING job with how long it
// has waited and follows it on to SUCCEEDED (exit 0) or to its --timeout (exit 7, as for RUNNING), `status` shows the
// wait and exits 0, and --json passes waitingSince and waitedSeconds through. The CLI runs as a child process from the
// bundle the image ships, against the real job-status handler behind a small HTTP server, whose DynamoDB and Step
// Functions clients are aws-sdk-client-mock mocks playing a status record through its states.
// It cannot verify who writes those states (the state machine and the generator): the pipeline tests do.
import { createServer, type OutgoingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { DescribeExecutionCommand, SFNClient } from "@aws-sdk/client-sfn";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ExitCode } from "../../cli/exit-codes";
import { handleJobStatusRequest } from "../../functions/job-status/api-adapter";
import type { JobStatus } from "../../functions/job-status/job-status";
import { buildBundle, type CouchgenRun, isolatedEnv, run } from "./couchgen-process";

const credentials = { accessKeyId: "test", secretAccessKey: "test" };
const STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:ImagePipeline";
const S3_URI = "s3://couch-images/generated_images/job-1.png";
const NOW = new Date("2026-11-23T12:00:00.000Z");
const WAITING_SINCE = "2026-11-23T11:59:48.000Z"; // 12 s before NOW
const GENERATING_SINCE = "2026-11-23T11:59:55.500Z"; // 7.5 s after WAITING_SINCE

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: "eu-west-1", credentials }));
const sfn = new SFNClient({ region: "eu-west-1", credentials });
const s3 = new S3Client({ region: "eu-west-1", credentials });
const documentsMock = mockClient(documents);
const sfnMock = mockClient(sfn);
const deps = { documents, sfn, s3, tableName: "JobStatus", stateMachineArn: STATE_MACHINE_ARN, now: () => NOW };

let server: Server;
let bundle: string;
let env: Record<string, string>;

beforeAll(async () => {
  server = createServer((request, response) => {
    const jobId = /^\/v1\/jobs\/([^/?]+)$/.exec(request.url ?? "")?.[1];
    handleJobStatusRequest(statusEvent(jobId), deps).then(
      (result) => response.writeHead(result.statusCode, result.headers as OutgoingHttpHeaders).end(result.body),
      (error: unknown) => response.writeHead(500).end(JSON.stringify({ message: String(error) })),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  bundle = await buildBundle();
  env = isolatedEnv({ COUCHGEN_API_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` });
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

beforeEach(() => {
  documentsMock.reset();
  sfnMock.reset();
  sfnMock.on(DescribeExecutionCommand).resolves({ status: "RUNNING" });
});

/** GET /jobs/{jobId} as API Gateway hands it to the handler (no API key). */
function statusEvent(jobId: string | undefined): APIGatewayProxyEvent {
  return {
    httpMethod: "GET",
    path: `/jobs/${jobId ?? ""}`,
    pathParameters: jobId === undefined ? null : { jobId },
    requestContext: { requestId: "req-1", identity: { apiKeyId: null } },
  } as unknown as APIGatewayProxyEvent;
}

/** The status record, one state per status request, the last one repeating. */
function recordPlays(...statuses: ("WAITING" | "RUNNING" | "SUCCEEDED")[]): void {
  const records = statuses.map((status) => ({
    jobId: "job-1",
    status,
    prompt: "a lighthouse at dawn",
    source: "api",
    createdAt: "2026-11-23T11:59:47.000Z",
    waitingSince: WAITING_SINCE,
    ...(status === "WAITING" ? {} : { generatingSince: GENERATING_SINCE, bedrockCalls: 2 }),
    ...(status === "SUCCEEDED" ? { s3Uri: S3_URI } : {}),
  }));
  let reads = 0;
  documentsMock.on(GetCommand).callsFake(() => ({ Item: records[Math.min(reads++, records.length - 1)] }));
}

function couchgen(args: string[]): Promise<CouchgenRun> {
  return run([process.execPath, bundle, ...args], env);
}

describe("wait", () => {
  it("shows WAITING with how long the job has waited, then RUNNING, and ends 0 with the S3 URI", async () => {
    recordPlays("WAITING", "WAITING", "RUNNING", "SUCCEEDED");

    const result = await couchgen(["wait", "job-1", "--interval", "0.1"]);

    expect(result.code).toBe(ExitCode.Ok);
    expect(result.stdout).toBe(`${S3_URI}\n`);
    // stderr is not a terminal: one line per state, the wait as of its first poll.
    expect(result.stderr).toMatch(
      /^job job-1: WAITING for a Bedrock slot \(waited 12\.0 s\) \(\d+\.\d s\)\njob job-1: RUNNING \(\d+\.\d s\)\njob job-1: SUCCEEDED in \d+\.\d s\n$/,
    );
  });

  it("--json passes waitingSince and waitedSeconds through, fixed once the generator took the job", async () => {
    recordPlays("WAITING", "SUCCEEDED");

    const result = await couchgen(["wait", "job-1", "--interval", "0.1", "--json"]);

    expect(result.code).toBe(ExitCode.Ok);
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout) as JobStatus).toMatchObject({
      status: "SUCCEEDED",
      waitingSince: WAITING_SINCE,
      waitedSeconds: 7.5,
      bedrockCalls: 2,
    });
  });

  it("exits 7 when --timeout passes while the job is still WAITING; the job goes on", async () => {
    recordPlays("WAITING");

    const result = await couchgen(["wait", "job-1", "--interval", "0.1", "--timeout", "1"]);

    expect(result.code).toBe(ExitCode.TimedOut);
    expect(result.stderr).toContain("job job-1: WAITING for a Bedrock slot (waited 12.0 s)");
    expect(result.stderr).toContain("couchgen: Job job-1 is still WAITING after 1 s; it goes on: couchgen wait job-1");
  });
});

describe("status", () => {
  it("shows a WAITING job with how long it has waited, and exits 0", async () => {
    recordPlays("WAITING");

    const result = await couchgen(["status", "job-1"]);

    expect(result.code).toBe(ExitCode.Ok);
    const lines = result.stdout.split("\n");
    expect(lines).toContain("status         WAITING for a Bedrock slot (waited 12.0 s)");
    expect(lines).toContain(`waitingSince   ${WAITING_SINCE}`);
    expect(lines).toContain("waitedSeconds  12");
  });

  it("--json is the API's document, with the wait of a job past the waiting room", async () => {
    recordPlays("RUNNING");

    const result = await couchgen(["status", "job-1", "--json"]);

    expect(result.code).toBe(ExitCode.Ok);
    expect(JSON.parse(result.stdout)).toEqual({
      jobId: "job-1",
      status: "RUNNING",
      prompt: "a lighthouse at dawn",
      source: "api",
      createdAt: "2026-11-23T11:59:47.000Z",
      waitingSince: WAITING_SINCE,
      waitedSeconds: 7.5,
      bedrockCalls: 2,
    });
  });
});

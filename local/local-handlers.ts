// The real handler modules, loaded once per process with the environment Lambda would give them.
import type { APIGatewayProxyEvent, APIGatewayProxyResult, SQSBatchResponse, SQSEvent } from "aws-lambda";
import type { LocalFunction } from "./state-machine-runner";

export type SqsHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

interface Handlers {
  apiHandler: (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;
  sqsHandler: SqsHandler;
  jobStatus: (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;
  validatePrompt: LocalFunction;
  generator: SqsHandler;
  storeImage: LocalFunction;
}

let loadedEnvironment: string | undefined;

/**
 * Imports the real handler modules once per process: they read their environment and build their SDK clients at
 * module start, as in Lambda. A second stack in the same process must therefore use the same endpoints.
 */
export async function loadHandlers(environment: Record<string, string>): Promise<Handlers> {
  const fingerprint = JSON.stringify(environment);
  if (loadedEnvironment !== undefined && loadedEnvironment !== fingerprint) {
    throw new Error(
      "The handler modules are already loaded with other endpoints: run one local stack per process, or restart it on the same ports",
    );
  }
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  Object.assign(process.env, environment);
  loadedEnvironment = fingerprint;
  const [startJob, jobStatus, validatePrompt, generateImage, storeImage] = await Promise.all([
    import("../functions/start-job/handler"),
    import("../functions/job-status/handler"),
    import("../functions/validate-prompt/handler"),
    import("../functions/generate-image/handler"),
    import("../functions/store-image/handler"),
  ]);
  return {
    apiHandler: startJob.apiHandler,
    sqsHandler: startJob.sqsHandler,
    jobStatus: jobStatus.handler,
    validatePrompt: (payload) => validatePrompt.handler(payload as never),
    generator: (event) => generateImage.handler(event),
    storeImage: (payload) => storeImage.handler(payload as never),
  };
}

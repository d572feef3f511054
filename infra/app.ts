import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { ConfigError, type ImagegenConfig, loadConfig } from "./config";
import { CouchImagegenStack } from "./stack";

const app = new App();

let config: ImagegenConfig;
try {
  config = loadConfig(app.node.getAllContext());
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  // The message says what to change; a stack trace would only bury it.
  console.error(error.message);
  process.exit(1);
}

new CouchImagegenStack(app, "CouchImagegen", {
  description: "couch-imagegen: text prompt in, PNG in S3 out (API Gateway, SQS, Step Functions, Bedrock)",
  config,
});

// Synthesis fails on any finding that is not acknowledged (with its reason) next to the resource it concerns.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

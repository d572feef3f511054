import { fileURLToPath } from "node:url";

/** The one state machine definition, used by CDK and by the local stack. */
export const ASL_PATH = fileURLToPath(new URL("./image-pipeline.asl.json", import.meta.url));

/** The `${Name}` placeholders the ASL file uses; CDK fills them with `definitionSubstitutions`, the local stack itself. */
export interface DefinitionSubstitutions {
  ValidatePromptFunctionArn: string;
  GenerateQueueUrl: string;
  StoreImageFunctionArn: string;
  JobStatusTableName: string;
}

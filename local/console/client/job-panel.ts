/// <reference lib="dom" />
// The job beside its execution: the status record as GET /jobs answers it, and for a SUCCEEDED job its image from S3
// with its URI and object metadata. The stand-in's images are placeholders, and the caption says so.
import type { ExecutionDetail } from "../api-types";
import { h, prettyJson } from "./dom";

const RECORD_FIELDS: [string, string][] = [
  ["status", "Status"],
  ["modelId", "Model"],
  ["aspectRatio", "Aspect ratio"],
  ["seed", "Seed"],
  ["outputFormat", "Output format"],
  ["source", "Source"],
  ["prompt", "Prompt"],
  ["createdAt", "Created"],
  ["updatedAt", "Updated"],
  ["waitingSince", "In the waiting room since"],
  ["waitedSeconds", "Waited for a Bedrock slot (s)"],
  ["bedrockCalls", "Bedrock calls"],
  ["s3Uri", "S3 URI"],
  ["error", "Error"],
  ["cause", "Cause"],
];

export function statusRecord(detail: ExecutionDetail, name: string): HTMLElement {
  const { job } = detail;
  if ("error" in job) return h("p", { role: "alert" }, `The status record could not be read: ${job.error}`);
  const record = job.body;
  const raw = h(
    "details",
    { class: "json-block" },
    h("summary", {}, `GET /jobs/${name} answered ${job.status}`),
    h("pre", { tabindex: "0" }, prettyJson(JSON.stringify(record))),
  );
  if (job.status !== 200) {
    return h("div", {}, h("p", {}, `No status record: ${String(record.message ?? job.status)}`), raw);
  }
  const rows = RECORD_FIELDS.filter(([field]) => record[field] !== undefined).map(([field, label]) => [
    h("dt", {}, label),
    h("dd", { class: field === "prompt" || field === "cause" ? "long-text" : undefined }, String(record[field])),
  ]);
  return h("div", {}, h("dl", { class: "facts" }, rows), raw);
}

export function imagePanel(detail: ExecutionDetail, bedrockIsStandIn: boolean): HTMLElement | undefined {
  if (detail.imageError) return h("p", { role: "alert" }, `The image could not be read: ${detail.imageError}`);
  const image = detail.image;
  if (!image) return undefined;
  const prompt = image.metadata.prompt ?? "";
  const caption = bedrockIsStandIn
    ? "A placeholder the local Bedrock stand-in drew from the prompt, not a model's image."
    : "The generated image.";
  return h(
    "figure",
    { class: "image" },
    h("img", {
      src: image.url,
      alt: `${bedrockIsStandIn ? "Stand-in placeholder image" : "Generated image"} for the prompt: ${prompt}`,
      loading: "lazy",
    }),
    h("figcaption", {}, h("strong", {}, bedrockIsStandIn ? "Stand-in output. " : ""), caption),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "S3 URI"),
      h("dd", {}, h("code", {}, image.s3Uri)),
      image.contentType ? [h("dt", {}, "Content type"), h("dd", {}, image.contentType)] : "",
      image.bytes !== undefined ? [h("dt", {}, "Size"), h("dd", {}, `${image.bytes.toLocaleString("en")} bytes`)] : "",
      Object.entries(image.metadata).map(([key, value]) => [
        h("dt", {}, `Metadata ${key}`),
        h("dd", { class: key === "prompt" ? "long-text" : undefined }, value),
      ]),
    ),
  );
}

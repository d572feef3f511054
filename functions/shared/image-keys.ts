import type { OutputFormat } from "./models/family";

/**
 * S3 layout (docs/ARCHITECTURE.md): `{keyPrefix}/generated_images/{jobId}.png` (`.jpg` for JPEG), staged first under
 * `{keyPrefix}/staging/`. Keys are built from the jobId only, never from prompt text.
 */
export function imageKey(keyPrefix: string, jobId: string, format: OutputFormat = "png"): string {
  return `${prefixPath(keyPrefix)}generated_images/${jobId}${IMAGE_FORMATS[format].extension}`;
}

export function stagingKey(keyPrefix: string, jobId: string, format: OutputFormat = "png"): string {
  return `${prefixPath(keyPrefix)}staging/${jobId}${IMAGE_FORMATS[format].extension}`;
}

/** Each output format's key extension, Content-Type and leading bytes. */
export const IMAGE_FORMATS: Readonly<
  Record<OutputFormat, { extension: string; contentType: string; signature: Buffer }>
> = {
  png: {
    extension: ".png",
    contentType: "image/png",
    signature: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  },
  jpeg: { extension: ".jpg", contentType: "image/jpeg", signature: Buffer.from([0xff, 0xd8, 0xff]) },
};

/** The format named in a state payload, checked: a payload cannot pick another key shape. */
export function outputFormatOf(value: unknown): OutputFormat {
  if (value === undefined || value === null) return "png";
  if (value === "png" || value === "jpeg") return value;
  throw new Error(`Unknown output format ${JSON.stringify(value)}: expected png or jpeg`);
}

/** `"team/alice/"` for `"team/alice"` or `"/team/alice/"`; `""` for an empty prefix. */
export function prefixPath(keyPrefix: string): string {
  const trimmed = keyPrefix.replace(/^\/+|\/+$/g, "");
  return trimmed === "" ? "" : `${trimmed}/`;
}

export function s3Uri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

/** Splits `s3://bucket/key` into its parts; throws on anything else. */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match?.[1] || !match[2]) {
    throw new Error(`Not an s3://bucket/key URI: ${uri}`);
  }
  return { bucket: match[1], key: match[2] };
}

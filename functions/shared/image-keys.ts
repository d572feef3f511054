/**
 * S3 layout (DESIGN.md): `{keyPrefix}/generated_images/{jobId}.png`, staged first under `{keyPrefix}/staging/`.
 * Keys are built from the jobId only, never from prompt text.
 */
export function imageKey(keyPrefix: string, jobId: string): string {
  return `${prefixPath(keyPrefix)}generated_images/${jobId}.png`;
}

export function stagingKey(keyPrefix: string, jobId: string): string {
  return `${prefixPath(keyPrefix)}staging/${jobId}.png`;
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

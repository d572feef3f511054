import { statSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { extname, join, resolve } from "node:path";
import { networkReason } from "./api-client";
import { CliError, ExitCode, usageError } from "./exit-codes";

export type ImageExtension = ".png" | ".jpg";

export interface SavedImage {
  path: string;
  bytes: number;
}

/** The extension of the stored image (`.jpg` for JPEG, functions/shared/image-keys.ts), from the job's S3 URI. */
export function imageExtension(s3Uri: string | undefined): ImageExtension {
  return s3Uri !== undefined && /\.jpe?g$/i.test(s3Uri) ? ".jpg" : ".png";
}

/** Where --out puts the image: the path itself, or `<jobId><extension>` inside it when it is a directory. */
export function outputPath(out: string, jobId: string, extension: ImageExtension = ".png"): string {
  const path = resolve(out);
  const isDirectory = statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  return isDirectory ? join(path, `${jobId}${extension}`) : path;
}

/** Whether a file path's own extension says another format than the image's (`--out picture.png` for a JPEG). */
export function extensionDisagrees(path: string, extension: ImageExtension): boolean {
  const own = extname(path).toLowerCase();
  const same = extension === ".jpg" ? [".jpg", ".jpeg"] : [".png"];
  return [".png", ".jpg", ".jpeg"].includes(own) && !same.includes(own);
}

/** Fetches the job's presigned imageUrl (no AWS credentials needed) and writes the bytes as they are. */
export async function downloadImage(
  imageUrl: string,
  out: string,
  jobId: string,
  extension: ImageExtension = ".png",
): Promise<SavedImage> {
  const path = outputPath(out, jobId, extension);
  let response: Response;
  try {
    response = await fetch(imageUrl, { signal: AbortSignal.timeout(120_000) });
  } catch (error) {
    throw new CliError(
      `Could not download the image from ${new URL(imageUrl).origin} (${networkReason(error)})`,
      ExitCode.Unavailable,
      {},
      { cause: error },
    );
  }
  if (!response.ok) {
    const expired = response.status === 403;
    throw new CliError(
      `Downloading the image failed: S3 answered ${response.status}${expired ? `; the link may have expired: run couchgen wait ${jobId} --out ${out} for a fresh one` : ""}`,
      response.status >= 500 ? ExitCode.Unavailable : ExitCode.Refused,
      { status: response.status },
    );
  }
  const image = Buffer.from(await response.arrayBuffer());
  try {
    await writeFile(path, image);
  } catch (error) {
    const code = (error as { code?: string }).code ?? String(error);
    throw usageError(`Could not write the image to ${path} (${code}): choose another --out`);
  }
  return { path, bytes: image.length };
}

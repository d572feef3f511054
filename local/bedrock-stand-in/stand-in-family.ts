import type { ResolvedModel } from "../../functions/shared/models/catalog";
import type { OutputFormat } from "../../functions/shared/models/family";
import type { BedrockErrorResponse } from "./bedrock-errors";

/** An InvokeModel body the stand-in accepted, with the model's defaults filled in: what to draw, and in what. */
export interface DrawRequest {
  prompt: string;
  negativePrompt: string | null;
  /** The seed the images are drawn from: for Stability's 0 (or none), the random one picked for it. */
  seed: number;
  /** The size of the image the real model returns for this body. */
  width: number;
  height: number;
  numberOfImages: number;
  outputFormat: OutputFormat;
}

/** How the stand-in reads and answers one model family's InvokeModel body (functions/shared/models has the client side). */
export interface StandInFamily {
  /** Parses and checks a body against the model's rules; throws a ValidationException response. */
  parseRequest(body: string, model: ResolvedModel, random: () => number): DrawRequest;
  /** The 200 body carrying the drawn images (base64). */
  answer(images: readonly string[], request: DrawRequest): object;
  /** How the family's content filter refuses a prompt: a 200 body to send, or a refusal to send instead. */
  filtered(request: DrawRequest): object | BedrockErrorResponse;
}

/** Counted in characters (code points), as the models' limits are. */
export function characterCount(text: string): number {
  return [...text].length;
}

export function describeType(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  return value === null ? "null" : `a ${typeof value}`;
}

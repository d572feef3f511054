/**
 * What each supported Bedrock image model accepts for a TEXT_IMAGE request.
 * Nova Canvas: https://docs.aws.amazon.com/nova/latest/userguide/image-gen-req-resp-structure.html
 * Titan Image Generator G1 v1/v2 (legacy): https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-image.html
 */
export type SizeRule =
  | { kind: "range"; min: number; max: number; multipleOf: number; maxPixels: number; maxAspectRatio: number }
  | { kind: "list"; allowed: ReadonlyArray<readonly [number, number]> };

export interface ImageModelLimits {
  readonly family: "nova-canvas" | "titan-image";
  readonly maxPromptLength: number;
  readonly maxSeed: number;
  readonly sizes: SizeRule;
  readonly defaultWidth: number;
  readonly defaultHeight: number;
  readonly qualities: readonly string[];
}

const NOVA_CANVAS: ImageModelLimits = {
  family: "nova-canvas",
  maxPromptLength: 1024,
  maxSeed: 858_993_459,
  sizes: { kind: "range", min: 320, max: 4096, multipleOf: 16, maxPixels: 4_194_304, maxAspectRatio: 4 },
  defaultWidth: 1024,
  defaultHeight: 1024,
  qualities: ["standard", "premium"],
};

const TITAN_IMAGE: ImageModelLimits = {
  family: "titan-image",
  maxPromptLength: 512,
  maxSeed: 2_147_483_646,
  sizes: {
    kind: "list",
    allowed: [
      [1024, 1024],
      [768, 768],
      [512, 512],
      [768, 1152],
      [384, 576],
      [1152, 768],
      [576, 384],
      [768, 1280],
      [384, 640],
      [1280, 768],
      [640, 384],
      [896, 1152],
      [448, 576],
      [1152, 896],
      [576, 448],
      [768, 1408],
      [384, 704],
      [1408, 768],
      [704, 384],
      [640, 1408],
      [320, 704],
      [1408, 640],
      [704, 320],
      [1152, 640],
      [1173, 640],
    ],
  },
  defaultWidth: 1024,
  defaultHeight: 1024,
  qualities: ["standard", "premium"],
};

export const SUPPORTED_MODEL_IDS = [
  "amazon.nova-canvas-v1:0",
  "amazon.titan-image-generator-v2:0",
  "amazon.titan-image-generator-v1",
] as const;

/**
 * Limits for a model id, including cross-region inference profile ids such as `us.amazon.nova-canvas-v1:0`.
 * Throws for a model whose request shape this pipeline does not speak.
 */
export function imageModelLimits(modelId: string): ImageModelLimits {
  if (modelId.includes("amazon.nova-canvas-")) return NOVA_CANVAS;
  if (modelId.includes("amazon.titan-image-generator-")) return TITAN_IMAGE;
  throw new Error(
    `Model "${modelId}" is not supported: use one of ${SUPPORTED_MODEL_IDS.join(", ")} (TEXT_IMAGE request shape)`,
  );
}

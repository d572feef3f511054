/**
 * The Bedrock image models this pipeline speaks: one row per model. Adding a model of a known family is one row here;
 * adding a family is one module beside this file and one entry in `families.ts`. Sources for every fact: docs/MODELS.md.
 */
export type FamilyName = "stability-image" | "amazon-image";

export interface ModelLifecycle {
  /** ACTIVE, or LEGACY: still served to accounts that used it, until `endOfLife`. */
  readonly status: "ACTIVE" | "LEGACY";
  /** ISO date from which the model is legacy. */
  readonly legacySince?: string;
  /** ISO date after which Bedrock refuses every request to the model. */
  readonly endOfLife?: string;
}

/**
 * On-demand US dollars per generated image: `standard` for a model without a quality setting. From docs/MODELS.md,
 * Prices, where only Nova Canvas's figures are confirmed on an AWS source; the rest are third-party figures or the
 * project's assumption. GenerateImage's EstimatedSpendUsd metric and the benchmark's cost model (bench/prices.ts) read
 * these, so the two cannot disagree.
 */
export interface ImagePrices {
  readonly standard: number;
  /** The `premium` quality, where the model prices it apart. */
  readonly premium?: number;
  /** Images of more than 1024x1024 pixels, where the model prices them apart (Nova Canvas, up to 2048x2048). */
  readonly large?: { readonly standard: number; readonly premium: number };
}

export interface CatalogModel {
  /** The foundation model id, as InvokeModel takes it. */
  readonly id: string;
  readonly name: string;
  readonly family: FamilyName;
  readonly lifecycle: ModelLifecycle;
  /** Whether AWS documents a negative prompt for this model; where it does not say, the pipeline refuses one. */
  readonly acceptsNegativePrompt: boolean;
  /** Regions that serve the model in-region (on-demand). */
  readonly regions: readonly string[];
  /**
   * Cross-region inference profiles by geography prefix (`us` for `us.<id>`): the regions a request may be routed
   * to, whose foundation-model ARNs the caller must be allowed to invoke as well as the profile's.
   */
  readonly profiles: Readonly<Record<string, readonly string[]>>;
  /** The model to move to when this one is legacy. */
  readonly replacement?: string;
  readonly pricePerImageUsd: ImagePrices;
}

export const MODEL_CATALOG: readonly CatalogModel[] = [
  {
    id: "stability.stable-image-core-v1:1",
    name: "Stable Image Core",
    family: "stability-image",
    lifecycle: { status: "ACTIVE" },
    acceptsNegativePrompt: true,
    regions: ["us-west-2"],
    // AWS lists no cross-region inference profile for these models (docs/MODELS.md).
    profiles: {},
    pricePerImageUsd: { standard: 0.04 },
  },
  {
    id: "stability.stable-image-ultra-v1:1",
    name: "Stable Image Ultra",
    family: "stability-image",
    lifecycle: { status: "ACTIVE" },
    acceptsNegativePrompt: true,
    regions: ["us-west-2"],
    // AWS lists no cross-region inference profile for these models (docs/MODELS.md).
    profiles: {},
    pricePerImageUsd: { standard: 0.14 },
  },
  {
    id: "stability.sd3-5-large-v1:0",
    name: "Stable Diffusion 3.5 Large",
    family: "stability-image",
    lifecycle: { status: "ACTIVE" },
    acceptsNegativePrompt: true,
    regions: ["us-west-2"],
    // AWS lists no cross-region inference profile for these models (docs/MODELS.md).
    profiles: {},
    pricePerImageUsd: { standard: 0.08 },
  },
  {
    id: "amazon.nova-canvas-v1:0",
    name: "Amazon Nova Canvas",
    family: "amazon-image",
    acceptsNegativePrompt: true,
    lifecycle: { status: "LEGACY", legacySince: "2026-03-30", endOfLife: "2026-09-30" },
    regions: ["us-east-1", "eu-west-1", "ap-northeast-1"],
    profiles: {},
    replacement: "stability.stable-image-core-v1:1",
    pricePerImageUsd: { standard: 0.04, premium: 0.06, large: { standard: 0.06, premium: 0.08 } },
  },
  {
    id: "amazon.titan-image-generator-v2:0",
    name: "Amazon Titan Image Generator G1 v2",
    family: "amazon-image",
    acceptsNegativePrompt: true,
    lifecycle: { status: "LEGACY", legacySince: "2025-12-30", endOfLife: "2026-06-30" },
    regions: ["us-east-1", "us-west-2"],
    profiles: {},
    replacement: "stability.stable-image-core-v1:1",
    // docs/MODELS.md: no figure found; the project assumes $0.010 (third-party maps say $0.008).
    pricePerImageUsd: { standard: 0.01 },
  },
  {
    id: "amazon.titan-image-generator-v1",
    name: "Amazon Titan Image Generator G1",
    family: "amazon-image",
    acceptsNegativePrompt: true,
    // Not on AWS's lifecycle pages; older than v2, which is legacy, so treated as legacy.
    lifecycle: { status: "LEGACY" },
    regions: ["us-east-1", "us-west-2", "ap-south-1", "eu-west-1", "eu-west-2"],
    profiles: {},
    replacement: "stability.stable-image-core-v1:1",
    // docs/MODELS.md: no figure found; assumed as for v2.
    pricePerImageUsd: { standard: 0.01 },
  },
];

/** Stable Image Core: the cheapest current model. */
export const DEFAULT_MODEL_ID = "stability.stable-image-core-v1:1";
/** A region that serves the default model in-region. */
export const DEFAULT_BEDROCK_REGION = "us-west-2";

/** Every id the pipeline accepts: the foundation model ids and their inference profile ids. */
export const SUPPORTED_MODEL_IDS: readonly string[] = MODEL_CATALOG.flatMap((model) => [
  model.id,
  ...Object.keys(model.profiles).map((geography) => `${geography}.${model.id}`),
]);

/** A model id as deployed: a foundation model, or an inference profile in front of one. */
export interface ResolvedModel {
  /** The id as given (what InvokeModel is called with). */
  readonly id: string;
  readonly model: CatalogModel;
  /** The geography prefix when `id` is an inference profile id (`us` for `us.stability...`). */
  readonly profileGeography: string | undefined;
}

/** The catalog row behind a model or inference profile id, or undefined for an id the pipeline does not speak. */
export function findModel(id: string): ResolvedModel | undefined {
  for (const model of MODEL_CATALOG) {
    if (id === model.id) return { id, model, profileGeography: undefined };
    const geography = id.endsWith(`.${model.id}`) ? id.slice(0, -model.id.length - 1) : undefined;
    if (geography !== undefined && Object.hasOwn(model.profiles, geography))
      return { id, model, profileGeography: geography };
  }
  return undefined;
}

const LARGE_IMAGE_PIXELS = 1024 * 1024;

/** US dollars one image costs at its model's catalog price, by its quality and size. */
export function imagePriceUsd(
  model: CatalogModel,
  image: { readonly quality: string | null; readonly width: number; readonly height: number },
): number {
  const prices = model.pricePerImageUsd;
  const tier = prices.large && image.width * image.height > LARGE_IMAGE_PIXELS ? prices.large : prices;
  return image.quality === "premium" ? (tier.premium ?? tier.standard) : tier.standard;
}

/** Like `findModel`, for ids already checked against the catalog (deploy parameters); throws for any other. */
export function resolveModel(id: string): ResolvedModel {
  const resolved = findModel(id);
  if (!resolved) {
    throw new Error(`Model "${id}" is not supported: use one of ${SUPPORTED_MODEL_IDS.join(", ")}`);
  }
  return resolved;
}

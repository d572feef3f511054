// Verifies the model-family seam: each family's InvokeModel body against the shapes docs/MODELS.md quotes from the AWS
// pages, its reading of a 200 answer (image, reported seed, content-filter and inference-error finish reasons,
// malformed bodies), its mapping of InvokeModel failures to the names the state machine acts on, and the catalog that
// picks the family (model and inference profile ids, limits every row must have). Pure functions over fixture bodies
// and SDK-like errors; it cannot verify that real Bedrock answers or words its errors the way these fixtures do.
import { describe, expect, it } from "vitest";
import { type ImageRequest, type ModelChoice, validateImageRequest } from "../../functions/shared/image-request";
import { amazonImage } from "../../functions/shared/models/amazon-image";
import {
  type CatalogModel,
  DEFAULT_MODEL_ID,
  findModel,
  MODEL_CATALOG,
  resolveModel,
  SUPPORTED_MODEL_IDS,
} from "../../functions/shared/models/catalog";
import { familyOf, limitsOf } from "../../functions/shared/models/families";
import type { ModelFamily } from "../../functions/shared/models/family";
import { stabilityImage } from "../../functions/shared/models/stability-image";
import { RETRIED_BEDROCK_ERRORS } from "../../functions/shared/pipeline-errors";
import { awsError, TINY_PNG_BASE64 } from "../fixtures/tiny-png";

const CORE = "stability.stable-image-core-v1:1";
const NOVA = "amazon.nova-canvas-v1:0";
const TITAN = "amazon.titan-image-generator-v2:0";
const MODELS: ModelChoice = { defaultModelId: CORE, allowedModelIds: [CORE, NOVA, TITAN] };
const TINY_PNG = Buffer.from(TINY_PNG_BASE64, "base64");

function request(fields: Record<string, unknown>, model = CORE): ImageRequest {
  return validateImageRequest({ ...fields, model }, MODELS, "job-1");
}

function body(value: unknown): Uint8Array {
  return new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
}

/** The error a call throws; fails the test when it returns. */
function thrown(call: () => unknown): Error {
  try {
    call();
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`expected an Error, got ${String(error)}`);
  }
  throw new Error("expected the call to throw, but it returned");
}

const catalogRow = (id: string): CatalogModel => {
  const row = MODEL_CATALOG.find((model) => model.id === id);
  if (!row) throw new Error(`no catalog row ${id}`);
  return row;
};

describe("stability-image: requestBody", () => {
  it("sends {prompt, aspect_ratio, seed} for PNG and nothing else: no mode, no pixel size, no output_format", () => {
    // Prepare: PNG is the default, and the Core and Ultra pages give no literal value to send for it.
    const validated = request({ prompt: "a lighthouse at dawn", aspectRatio: "16:9", seed: 42 });

    // Act
    const sent = JSON.parse(stabilityImage.requestBody(validated));

    // Assess
    expect(sent).toEqual({ prompt: "a lighthouse at dawn", aspect_ratio: "16:9", seed: 42 });
  });

  it("adds negative_prompt when one was given, and output_format jpeg when asked", () => {
    // Prepare
    const validated = request({ prompt: "a cat", negativePrompt: "dogs", outputFormat: "jpeg", seed: 0 });

    // Act
    const sent = JSON.parse(stabilityImage.requestBody(validated));

    // Assess
    expect(sent).toEqual({
      prompt: "a cat",
      negative_prompt: "dogs",
      aspect_ratio: "1:1",
      seed: 0,
      output_format: "jpeg",
    });
    expect(sent).not.toHaveProperty("mode");
  });
});

describe("amazon-image: requestBody", () => {
  it("sends Nova Canvas a TEXT_IMAGE body with the validated size, quality and seed, one image", () => {
    // Prepare
    const validated = request({ prompt: "a lighthouse", width: 1280, height: 720, quality: "premium", seed: 7 }, NOVA);

    // Act
    const sent = JSON.parse(amazonImage.requestBody(validated));

    // Assess
    expect(sent).toEqual({
      taskType: "TEXT_IMAGE",
      textToImageParams: { text: "a lighthouse" },
      imageGenerationConfig: { numberOfImages: 1, width: 1280, height: 720, quality: "premium", seed: 7 },
    });
  });

  it("sends Titan the same shape, with negativeText only when a negative prompt was given", () => {
    // Prepare
    const withNegative = request({ prompt: "a cat", negativePrompt: "dogs", aspectRatio: "3:2", seed: 9 }, TITAN);
    const without = request({ prompt: "a cat" }, TITAN);

    // Act
    const sent = JSON.parse(amazonImage.requestBody(withNegative));
    const plain = JSON.parse(amazonImage.requestBody(without));

    // Assess
    expect(sent).toEqual({
      taskType: "TEXT_IMAGE",
      textToImageParams: { text: "a cat", negativeText: "dogs" },
      imageGenerationConfig: { numberOfImages: 1, width: 1152, height: 768, quality: "standard", seed: 9 },
    });
    expect(plain.textToImageParams).toEqual({ text: "a cat" });
  });
});

describe("stability-image: parseResponse", () => {
  const validated = request({ prompt: "a cat", seed: 0 });

  it("returns the decoded image and the seed the model reports, not the one sent", () => {
    // Act
    const generated = stabilityImage.parseResponse(
      body({ seeds: [2130420379], finish_reasons: [null], images: [TINY_PNG_BASE64] }),
      validated,
    );

    // Assess
    expect(generated.image.equals(TINY_PNG)).toBe(true);
    expect(generated.seed).toBe(2130420379);
  });

  it("reads a seed sent as a string (the pages type seeds as strings)", () => {
    expect(
      stabilityImage.parseResponse(
        body({ seeds: ["2130420379"], finish_reasons: [null], images: [TINY_PNG_BASE64] }),
        validated,
      ).seed,
    ).toBe(2130420379);
  });

  it.each([
    ["no seeds field", {}],
    ["an empty seeds list", { seeds: [] }],
    ["a seed that is not a number", { seeds: ["abc"] }],
    ["a null seed", { seeds: [null] }],
    ["an empty-string seed", { seeds: [""] }],
  ])("falls back to the seed sent when the answer has %s", (_kind, seeds) => {
    // Prepare
    const sent = request({ prompt: "a cat", seed: 1234 });

    // Act
    const generated = stabilityImage.parseResponse(
      body({ ...seeds, finish_reasons: [null], images: [TINY_PNG_BASE64] }),
      sent,
    );

    // Assess
    expect(generated.seed).toBe(1234);
  });

  it.each([
    ["Filter reason: prompt", "prompt"],
    ["Filter reason: output image", "output image"],
    ["Filter reason: input image", "input image"],
  ])("maps the finish reason %j to ContentBlocked, naming what was filtered", (reason, what) => {
    // Act
    const error = thrown(() => stabilityImage.parseResponse(body({ finish_reasons: [reason] }), validated));

    // Assess
    expect(error.name).toBe("ContentBlocked");
    expect(error.message).toBe(
      `Bedrock's content filter refused the ${what} (finish reason "${reason}"); change the prompt`,
    );
  });

  it("maps a filter finish reason to ContentBlocked even when an image came with it", () => {
    expect(
      thrown(() =>
        stabilityImage.parseResponse(
          body({ seeds: [1], finish_reasons: ["Filter reason: output image"], images: [TINY_PNG_BASE64] }),
          validated,
        ),
      ).name,
    ).toBe("ContentBlocked");
  });

  it("maps the finish reason Inference error to ModelInferenceError, naming the model", () => {
    // Act
    const error = thrown(() => stabilityImage.parseResponse(body({ finish_reasons: ["Inference error"] }), validated));

    // Assess
    expect(error.name).toBe("ModelInferenceError");
    expect(error.message).toBe(`${CORE} could not generate the image (finish reason "Inference error")`);
  });

  it.each([
    ["no images field", { seeds: [1], finish_reasons: [null] }],
    ["an empty images list", { seeds: [1], finish_reasons: [null], images: [] }],
    ["an empty image", { seeds: [1], finish_reasons: [null], images: [""] }],
    ["an image that is not a string", { seeds: [1], finish_reasons: [null], images: [42] }],
  ])("maps an answer with %s to BedrockMalformedResponse", (_kind, answer) => {
    // Act
    const error = thrown(() => stabilityImage.parseResponse(body(answer), validated));

    // Assess
    expect(error.name).toBe("BedrockMalformedResponse");
    expect(error.message).toBe("Bedrock returned no image");
  });

  it.each([
    ["not JSON", "<html>502 Bad Gateway</html>", "Bedrock returned a body that is not JSON"],
    ["empty", "", "Bedrock returned a body that is not JSON"],
    ["a JSON array", "[]", "Bedrock returned JSON that is not an object"],
    ["JSON null", "null", "Bedrock returned JSON that is not an object"],
  ])("maps a body that is %s to BedrockMalformedResponse", (_kind, text, message) => {
    // Act
    const error = thrown(() => stabilityImage.parseResponse(body(text), validated));

    // Assess
    expect(error.name).toBe("BedrockMalformedResponse");
    expect(error.message).toBe(message);
  });
});

describe("amazon-image: parseResponse", () => {
  const validated = request({ prompt: "a cat", seed: 77 }, NOVA);

  it("returns the decoded image and the seed sent: these models report none", () => {
    // Act
    const generated = amazonImage.parseResponse(body({ images: [TINY_PNG_BASE64] }), validated);

    // Assess
    expect(generated.image.equals(TINY_PNG)).toBe(true);
    expect(generated.seed).toBe(77);
  });

  it.each([
    ["no images", { images: [], error: "All of the generated images have been blocked by our content filters." }],
    [
      "a null image",
      { images: [null], error: "All of the generated images have been blocked by our content filters." },
    ],
    ["no images field", { error: "All of the generated images have been blocked by our content filters." }],
  ])("maps an answer with %s and an error to ContentBlocked, keeping Bedrock's words", (_kind, answer) => {
    // Act
    const error = thrown(() => amazonImage.parseResponse(body(answer), validated));

    // Assess
    expect(error.name).toBe("ContentBlocked");
    expect(error.message).toBe("All of the generated images have been blocked by our content filters.");
  });

  it.each([
    ["an empty image list", { images: [] }],
    ["an empty image", { images: [""] }],
    ["an empty error", { images: [], error: "" }],
  ])("maps an answer with %s and no error to BedrockMalformedResponse", (_kind, answer) => {
    // Act
    const error = thrown(() => amazonImage.parseResponse(body(answer), validated));

    // Assess
    expect(error.name).toBe("BedrockMalformedResponse");
    expect(error.message).toBe("Bedrock returned no image");
  });

  it("maps a body that is not JSON to BedrockMalformedResponse", () => {
    expect(thrown(() => amazonImage.parseResponse(body("<html>"), validated))).toMatchObject({
      name: "BedrockMalformedResponse",
      message: "Bedrock returned a body that is not JSON",
    });
  });
});

const FAMILY_CASES: ReadonlyArray<readonly [string, ModelFamily, ImageRequest]> = [
  ["stability-image (Stable Image Core)", stabilityImage, request({ prompt: "a cat" })],
  ["amazon-image (Nova Canvas)", amazonImage, request({ prompt: "a cat" }, NOVA)],
  ["amazon-image (Titan)", amazonImage, request({ prompt: "a cat" }, TITAN)],
];

describe.each(FAMILY_CASES)("%s: mapError", (_label, family, validated) => {
  it.each(RETRIED_BEDROCK_ERRORS.map((name) => [name]))("passes %s through under its own name", (name) => {
    // Prepare
    const original = awsError(name, "Too many requests, please wait before trying again.", 429);

    // Act
    const mapped = family.mapError(original, validated);

    // Assess
    expect(mapped).toMatchObject({
      name,
      message: "Too many requests, please wait before trying again.",
      cause: original,
    });
  });

  it("maps a content-filter ValidationException to ContentBlocked", () => {
    // Prepare
    const message = "This request has been blocked by our content filters. Please adjust your text prompt.";

    // Act + Assess
    expect(family.mapError(awsError("ValidationException", message), validated)).toMatchObject({
      name: "ContentBlocked",
      message,
    });
  });

  it.each([
    [
      "an end-of-life model",
      "This model version has reached the end of its life. Please refer to the AWS documentation for more details.",
    ],
    [
      "a legacy model the account stopped using",
      "Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in the last 15 days. Please upgrade to an active model on Amazon Bedrock",
    ],
  ])(
    "maps ResourceNotFoundException for %s to ModelUnavailable, naming the deploy parameter and the check",
    (_kind, message) => {
      // Act
      const mapped = family.mapError(awsError("ResourceNotFoundException", message, 404), validated);

      // Assess
      expect(mapped.name).toBe("ModelUnavailable");
      expect(mapped.message).toContain(`Bedrock refused model "${validated.modelId}" (${message})`);
      expect(mapped.message).toContain("change the deploy parameter modelId");
      expect(mapped.message).toContain("npx couchgen models");
    },
  );

  it("maps AccessDeniedException to ModelUnavailable and says to enable access to the model", () => {
    // Act
    const mapped = family.mapError(
      awsError("AccessDeniedException", "You don't have access to the model with the specified model ID.", 403),
      validated,
    );

    // Assess
    expect(mapped.name).toBe("ModelUnavailable");
    expect(mapped.message).toContain("enable access to the model in the Bedrock console");
    expect(mapped.message).toContain("deploy parameter modelId");
  });

  it("maps ValidationException 'The provided model identifier is invalid.' to ModelUnavailable", () => {
    // Act
    const mapped = family.mapError(
      awsError("ValidationException", "The provided model identifier is invalid."),
      validated,
    );

    // Assess
    expect(mapped.name).toBe("ModelUnavailable");
    expect(mapped.message).toContain("(The provided model identifier is invalid.)");
  });

  it("maps the ValidationException for a model that needs an inference profile to ModelUnavailable", () => {
    // Prepare: the message docs/MODELS.md quotes for a bare id the model does not serve on demand.
    const message =
      `Invocation of model ID ${validated.modelId} with on-demand throughput isn't supported. Retry your request ` +
      "with the ID or ARN of an inference profile that contains this model.";

    // Act
    const mapped = family.mapError(awsError("ValidationException", message), validated);

    // Assess
    expect(mapped.name).toBe("ModelUnavailable");
  });

  it("maps any other ValidationException to BedrockValidation, keeping Bedrock's message", () => {
    // Prepare
    const message = "Malformed input request: #/imageGenerationConfig/width: 1000 is not a multiple of 16";

    // Act + Assess
    expect(family.mapError(awsError("ValidationException", message), validated)).toMatchObject({
      name: "BedrockValidation",
      message,
    });
  });

  it("maps ModelErrorException to ModelInferenceError", () => {
    expect(family.mapError(awsError("ModelErrorException", "The model failed", 424), validated)).toMatchObject({
      name: "ModelInferenceError",
      message: "The model failed",
    });
  });

  it.each([
    ["InternalServerException", 500],
    ["SomethingNewException", 500],
    ["BadGatewayException", 502],
  ])("maps %s (HTTP %i) to the retried ServiceUnavailableException", (name, status) => {
    expect(family.mapError(awsError(name, "Internal failure", status), validated)).toMatchObject({
      name: "ServiceUnavailableException",
      message: `${name}: Internal failure`,
    });
  });

  it.each([
    ["ECONNRESET", () => Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })],
    ["ETIMEDOUT", () => Object.assign(new Error("connect ETIMEDOUT"), { code: "ETIMEDOUT" })],
    ["TimeoutError", () => Object.assign(new Error("Connection timed out after 60000 ms"), { name: "TimeoutError" })],
  ])("maps a network failure (%s) to the retried ServiceUnavailableException", (_kind, makeError) => {
    expect(family.mapError(makeError(), validated).name).toBe("ServiceUnavailableException");
  });

  it("maps any other client error to the final BedrockError, keeping the cause", () => {
    // Prepare
    const original = awsError("ServiceQuotaExceededException", "Quota exceeded", 400);

    // Act + Assess
    expect(family.mapError(original, validated)).toMatchObject({
      name: "BedrockError",
      message: "ServiceQuotaExceededException: Quota exceeded",
      cause: original,
    });
  });

  it("maps a thrown non-Error to BedrockError", () => {
    expect(family.mapError("boom", validated)).toMatchObject({ name: "BedrockError", message: "UnknownError: boom" });
  });
});

describe("catalog: findModel and resolveModel", () => {
  it.each(MODEL_CATALOG.map((model) => [model.id]))("finds the foundation model id %s", (id) => {
    expect(findModel(id)).toEqual({ id, model: catalogRow(id), profileGeography: undefined });
  });

  it.each(["stability.sd3-large-v1:0", "amazon.nova-canvas-v1", "AMAZON.NOVA-CANVAS-V1:0", "", `${CORE} `])(
    "finds nothing for the unknown id %j",
    (id) => {
      expect(findModel(id)).toBeUndefined();
    },
  );

  it.each([`us.${CORE}`, `eu.${CORE}`, `apac.${CORE}`, `us.${NOVA}`, `us.us.${CORE}`, `.${CORE}`])(
    "finds nothing for %s: a geography the model has no inference profile in",
    (id) => {
      expect(findModel(id)).toBeUndefined();
    },
  );

  it.each([`constructor.${CORE}`, `__proto__.${NOVA}`, `toString.${TITAN}`, `hasOwnProperty.${CORE}`])(
    "finds nothing for %s: a prototype key is not a geography",
    (id) => {
      expect(findModel(id)).toBeUndefined();
    },
  );

  it("resolves a known id and refuses an unknown one, listing the supported ids", () => {
    expect(resolveModel(NOVA).model.family).toBe("amazon-image");
    expect(() => resolveModel("stability.sd3-large-v1:0")).toThrow(
      `Model "stability.sd3-large-v1:0" is not supported: use one of ${SUPPORTED_MODEL_IDS.join(", ")}`,
    );
  });
});

describe("catalog: every row", () => {
  it.each(MODEL_CATALOG.map((model) => [model.id, model]))(
    "%s resolves to the family its row names, whose limits include the default aspect ratio 1:1",
    (id, row) => {
      // Act
      const resolved = resolveModel(id);
      const limits = limitsOf(resolved);

      // Assess
      expect(familyOf(resolved).name).toBe(row.family);
      expect(Object.hasOwn(limits.aspectRatios, "1:1")).toBe(true);
      expect(limits.outputFormats).toContain("png");
    },
  );

  it.each(MODEL_CATALOG.map((model) => [model.id]))(
    "%s: every aspect ratio's size is one its own pixel rule accepts",
    (id) => {
      // Prepare
      const limits = limitsOf(resolveModel(id));
      const rule = limits.pixels;

      // Act + Assess
      for (const [width, height] of Object.values(limits.aspectRatios)) {
        expect(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0).toBe(true);
        if (rule?.kind === "list") {
          expect(rule.allowed).toContainEqual([width, height]);
        } else if (rule?.kind === "range") {
          expect([width % rule.multipleOf, height % rule.multipleOf]).toEqual([0, 0]);
          expect(Math.min(width, height)).toBeGreaterThanOrEqual(rule.min);
          expect(Math.max(width, height)).toBeLessThanOrEqual(rule.max);
          expect(width * height).toBeLessThanOrEqual(rule.maxPixels);
        }
      }
    },
  );

  it.each(MODEL_CATALOG.map((model) => [model.id, model]))(
    "%s: the families honour the row's acceptsNegativePrompt",
    (_id, row) => {
      // Prepare
      const family = familyOf({ id: row.id, model: row, profileGeography: undefined });

      // Act
      const accepting = family.limits({ ...row, acceptsNegativePrompt: true });
      const refusing = family.limits({ ...row, acceptsNegativePrompt: false });

      // Assess
      expect(accepting.maxNegativePromptLength).toBe(accepting.maxPromptLength);
      expect(refusing.maxNegativePromptLength).toBeUndefined();
    },
  );

  it("names a replacement for every legacy model, and the replacement is an active catalog model", () => {
    for (const row of MODEL_CATALOG.filter((model) => model.lifecycle.status === "LEGACY")) {
      expect(row.replacement).toBeDefined();
      expect(findModel(row.replacement ?? "")?.model.lifecycle.status).toBe("ACTIVE");
    }
  });

  it("defaults to an active Stability model the catalog holds", () => {
    expect(findModel(DEFAULT_MODEL_ID)?.model).toMatchObject({
      family: "stability-image",
      lifecycle: { status: "ACTIVE" },
    });
  });
});

describe("catalog: SUPPORTED_MODEL_IDS", () => {
  it("lists every foundation model id, then only the inference profiles the rows name", () => {
    // Prepare
    const foundationIds = MODEL_CATALOG.map((model) => model.id);
    const profileCount = MODEL_CATALOG.reduce((sum, model) => sum + Object.keys(model.profiles).length, 0);

    // Assess
    expect(SUPPORTED_MODEL_IDS).toEqual(expect.arrayContaining(foundationIds));
    expect(SUPPORTED_MODEL_IDS).toHaveLength(foundationIds.length + profileCount);
    expect(new Set(SUPPORTED_MODEL_IDS).size).toBe(SUPPORTED_MODEL_IDS.length);
    for (const id of SUPPORTED_MODEL_IDS.filter((supported) => !foundationIds.includes(supported))) {
      const resolved = findModel(id);
      expect(resolved?.profileGeography).toBeDefined();
      expect(`${resolved?.profileGeography}.${resolved?.model.id}`).toBe(id);
    }
  });

  it("offers the six catalog models and no us. profile, since AWS documents none for them (docs/MODELS.md)", () => {
    expect([...SUPPORTED_MODEL_IDS].sort()).toEqual(
      [
        CORE,
        "stability.stable-image-ultra-v1:1",
        "stability.sd3-5-large-v1:0",
        NOVA,
        TITAN,
        "amazon.titan-image-generator-v1",
      ].sort(),
    );
  });

  it("holds only ids findModel resolves to themselves", () => {
    for (const id of SUPPORTED_MODEL_IDS) {
      expect(findModel(id)?.id).toBe(id);
    }
  });
});

// Verifies the one request contract (functions/shared/image-request.ts) for every model family: the model choice, the
// defaults, each model's prompt, negative prompt, seed, aspect ratio, pixel size, output format and quality rules, the
// text rules every model shares, and that each refusal says what the chosen model accepts while quoting at most a short
// excerpt of what was sent. Pure functions, no AWS calls; it cannot verify that Bedrock itself accepts every request
// that passes here (the limits are checked against docs/MODELS.md's reading of the AWS pages, not against the models).
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  defaultSeed,
  type ImageRequest,
  MAX_REQUEST_BYTES,
  type ModelChoice,
  REQUEST_FIELDS,
  unknownFields,
  validateImageRequest,
} from "../../functions/shared/image-request";
import { stabilityImage } from "../../functions/shared/models/stability-image";
import { InvalidPromptError } from "../../functions/shared/pipeline-errors";
import { PIPELINE_KEY } from "../../functions/shared/pipeline-facts";
import { quote } from "../../functions/shared/quoted-text";

const CORE = "stability.stable-image-core-v1:1";
const ULTRA = "stability.stable-image-ultra-v1:1";
const SD35 = "stability.sd3-5-large-v1:0";
const NOVA = "amazon.nova-canvas-v1:0";
const TITAN = "amazon.titan-image-generator-v2:0";
const TITAN_V1 = "amazon.titan-image-generator-v1";

// How each refusal names the model: "<catalog name> (<id as sent>)".
const CORE_LABEL = `Stable Image Core (${CORE})`;
const NOVA_LABEL = `Amazon Nova Canvas (${NOVA})`;
const TITAN_LABEL = `Amazon Titan Image Generator G1 v2 (${TITAN})`;

const STABILITY_RATIOS = "16:9, 1:1, 21:9, 2:3, 3:2, 4:5, 5:4, 9:16, 9:21";
const STABILITY_MAX_SEED = 4_294_967_294;
const NOVA_MAX_SEED = 858_993_459;
const TITAN_MAX_SEED = 2_147_483_646;

/** A deployment that offers every catalog model, the Core default first. */
const ALL_MODELS: ModelChoice = {
  defaultModelId: CORE,
  allowedModelIds: [CORE, ULTRA, SD35, NOVA, TITAN, TITAN_V1],
};
const JOB_ID = "job-1";

/** Validates `fields` for `model` (the deployment's default when omitted). */
function validate(fields: Record<string, unknown>, model?: string, models = ALL_MODELS): ImageRequest {
  return validateImageRequest(model === undefined ? fields : { ...fields, model }, models, JOB_ID);
}

/** The InvalidPrompt error a request is refused with; fails the test when the request is accepted. */
function refusal(fields: unknown, model?: string, models = ALL_MODELS): InvalidPromptError {
  const sent = model === undefined ? fields : { ...(fields as Record<string, unknown>), model };
  try {
    validateImageRequest(sent, models, JOB_ID);
  } catch (error) {
    if (error instanceof InvalidPromptError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(sent).slice(0, 200)} to be refused, but it was accepted`);
}

/** An array nested `depth` levels deep, built without recursion. */
function deeplyNestedArray(depth: number): unknown[] {
  let value: unknown[] = [];
  for (let level = 0; level < depth; level++) value = [value];
  return value;
}

describe("validateImageRequest: defaults", () => {
  it("fills Stable Image Core's defaults for a prompt alone: 1:1 at 1024x1024, PNG, no quality, a job seed", () => {
    // Act
    const request = validate({ prompt: "a lighthouse at dawn" });

    // Assess
    expect(request).toEqual({
      modelId: CORE,
      prompt: "a lighthouse at dawn",
      negativePrompt: null,
      seed: defaultSeed(JOB_ID, { maxSeed: STABILITY_MAX_SEED, zeroSeedIsRandom: true }),
      aspectRatio: "1:1",
      width: 1024,
      height: 1024,
      outputFormat: "png",
      quality: null,
    });
    expect(request.seed).not.toBe(0);
  });

  it.each([
    [NOVA, NOVA_MAX_SEED],
    [TITAN, TITAN_MAX_SEED],
  ])("fills %s's defaults: 1:1 at 1024x1024, PNG, standard quality", (model, maxSeed) => {
    // Act
    const request = validate({ prompt: "a lighthouse at dawn" }, model);

    // Assess
    expect(request).toEqual({
      modelId: model,
      prompt: "a lighthouse at dawn",
      negativePrompt: null,
      seed: defaultSeed(JOB_ID, { maxSeed, zeroSeedIsRandom: false }),
      aspectRatio: "1:1",
      width: 1024,
      height: 1024,
      outputFormat: "png",
      quality: "standard",
    });
  });

  it("treats null like an absent field for every optional one", () => {
    // Prepare
    const nulls = { negativePrompt: null, seed: null, aspectRatio: null, outputFormat: null, quality: null };

    // Act
    const request = validate({ prompt: "a cat", ...nulls, model: null });

    // Assess
    expect(request).toEqual(validate({ prompt: "a cat" }));
  });
});

describe("validateImageRequest: model", () => {
  it("uses the deployment's default model when the request names none", () => {
    // Prepare
    const novaDefault: ModelChoice = { defaultModelId: NOVA, allowedModelIds: [NOVA, CORE] };

    // Act
    const request = validate({ prompt: "a cat" }, undefined, novaDefault);

    // Assess
    expect(request.modelId).toBe(NOVA);
    expect(request.quality).toBe("standard");
  });

  it.each([ULTRA, SD35, NOVA, TITAN, TITAN_V1])("uses an allowed model the request names (%s)", (model) => {
    expect(validate({ prompt: "a cat" }, model).modelId).toBe(model);
  });

  it("refuses a catalog model this deployment does not offer, listing the ones it does", () => {
    // Prepare
    const narrow: ModelChoice = { defaultModelId: CORE, allowedModelIds: [CORE, NOVA] };

    // Act
    const error = refusal({ prompt: "a cat" }, SD35, narrow);

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe(
      `"model" "${SD35}" is not offered by this deployment; accepted: ${CORE}, ${NOVA} (omit "model" for ${CORE})`,
    );
  });

  it.each([
    "stability.sd3-large-v1:0",
    "amazon.nova-canvas-v1",
    "AMAZON.NOVA-CANVAS-V1:0",
    "eu.amazon.nova-canvas-v1:0",
  ])("refuses a model id the pipeline does not speak (%s), listing the allowed ones", (model) => {
    // Prepare
    const narrow: ModelChoice = { defaultModelId: CORE, allowedModelIds: [CORE, NOVA] };

    // Act
    const error = refusal({ prompt: "a cat" }, model, narrow);

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe(
      `"model" "${model}" is not a model this pipeline speaks; accepted: ${CORE}, ${NOVA} (omit "model" for ${CORE})`,
    );
  });

  it("refuses an allowed id that is not in the catalog (a misconfigured deployment) the same way", () => {
    // Prepare
    const misconfigured: ModelChoice = { defaultModelId: CORE, allowedModelIds: [CORE, "made.up-model-v1:0"] };

    // Act + Assess
    expect(refusal({ prompt: "a cat" }, "made.up-model-v1:0", misconfigured).message).toMatch(
      /^"model" "made\.up-model-v1:0" is not a model this pipeline speaks; accepted: /,
    );
  });

  it.each([
    [42, "a number"],
    [[CORE], "an array"],
    [{ id: CORE }, "an object"],
    [true, "a boolean"],
  ])("refuses a model that is not a string (%j)", (model, described) => {
    // Act
    const error = refusal({ prompt: "a cat", model });

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe(
      `"model" must be a string, one of ${ALL_MODELS.allowedModelIds.join(", ")}; got ${described}`,
    );
  });

  it("fails with a plain Error, not InvalidPrompt, when the deployment's default is not in the catalog", () => {
    // Prepare
    const broken: ModelChoice = { defaultModelId: "made.up-model-v1:0", allowedModelIds: ["made.up-model-v1:0"] };

    // Act
    const attempt = () => validateImageRequest({ prompt: "a cat" }, broken, JOB_ID);

    // Assess
    expect(attempt).toThrow('The default model "made.up-model-v1:0" is not in the model catalog');
    expect(attempt).not.toThrow(InvalidPromptError);
  });
});

describe("validateImageRequest: prompt length per model", () => {
  it.each([
    [CORE, 10_000, CORE_LABEL],
    [ULTRA, 10_000, `Stable Image Ultra (${ULTRA})`],
    [SD35, 10_000, `Stable Diffusion 3.5 Large (${SD35})`],
    [NOVA, 1024, NOVA_LABEL],
    [TITAN, 512, TITAN_LABEL],
    [TITAN_V1, 512, `Amazon Titan Image Generator G1 (${TITAN_V1})`],
  ])("accepts exactly the limit for %s (%i) and refuses one more, naming the model", (model, limit, label) => {
    // Act
    const accepted = validate({ prompt: "a".repeat(limit) }, model);
    const error = refusal({ prompt: "a".repeat(limit + 1) }, model);

    // Assess
    expect(accepted.prompt).toHaveLength(limit);
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe(`"prompt" is ${limit + 1} characters long; ${label} accepts at most ${limit}`);
  });

  it.each([
    [CORE, 10_000],
    [NOVA, 1024],
    [TITAN, 512],
  ])("states %s's limit in the 'required' message", (model, limit) => {
    expect(refusal({}, model).message).toBe(`"prompt" is required: a non-empty string of at most ${limit} characters`);
  });

  it("counts code points, so an emoji is one character although it is two UTF-16 units", () => {
    // Prepare
    const atLimit = "🌅".repeat(1024);
    const overLimit = "🌅".repeat(1025);

    // Act
    const accepted = validate({ prompt: atLimit }, NOVA);
    const error = refusal({ prompt: overLimit }, NOVA);

    // Assess
    expect(atLimit.length).toBe(2048);
    expect(accepted.prompt).toBe(atLimit);
    expect(error.message).toMatch(/^"prompt" is 1025 characters long/);
  });

  it("counts æøå as one character each", () => {
    expect(validate({ prompt: `${"æøå".repeat(170)}æø` }, TITAN).prompt).toHaveLength(512);
    expect(refusal({ prompt: "æøå".repeat(171) }, TITAN).message).toMatch(/^"prompt" is 513 characters long/);
  });

  it("measures the length after trimming", () => {
    expect(validate({ prompt: `   ${"a".repeat(1024)}\n` }, NOVA).prompt).toHaveLength(1024);
  });

  it("fits the longest prompt and negative prompt any model takes, in 4-byte characters, within MAX_REQUEST_BYTES", () => {
    // Prepare
    const longest = {
      prompt: "🌅".repeat(10_000),
      negativePrompt: "🫐".repeat(10_000),
      seed: STABILITY_MAX_SEED,
      aspectRatio: "21:9",
      outputFormat: "jpeg",
      model: ULTRA,
    };

    // Act
    const request = validate(longest);
    const bytes = Buffer.byteLength(JSON.stringify(longest));

    // Assess
    expect(request.prompt).toBe(longest.prompt);
    expect(bytes).toBeGreaterThan(80_000);
    expect(bytes).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
  });
});

describe("validateImageRequest: prompt text rules (every model)", () => {
  it.each([
    ["a string", "a lighthouse"],
    ["a number", 42],
    ["null", null],
    ["an array", []],
  ])("refuses a request that is %s, not a JSON object", (_kind, fields) => {
    // Act
    const error = refusal(fields);

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe('The request must be a JSON object like {"prompt": "..."}');
  });

  it.each([
    ["missing", {}],
    ["null", { prompt: null }],
  ])("refuses a %s prompt and says what is accepted", (_kind, fields) => {
    // Act
    const error = refusal(fields);

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe('"prompt" is required: a non-empty string of at most 10000 characters');
  });

  it.each([
    [42, "a number"],
    [true, "a boolean"],
    [["a lighthouse"], "an array"],
    [{ text: "a lighthouse" }, "an object"],
  ])("refuses a prompt that is not a string (%j)", (prompt, described) => {
    // Act
    const error = refusal({ prompt });

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe(`"prompt" must be a string, got ${described}`);
  });

  it.each(["", " ", " \t\n\r "])("refuses an empty or whitespace-only prompt (%j)", (prompt) => {
    // Act
    const error = refusal({ prompt });

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe('"prompt" is empty: send at least one non-whitespace character');
  });

  it.each([CORE, NOVA, TITAN])("trims surrounding whitespace and keeps tabs and line breaks inside (%s)", (model) => {
    // Act
    const request = validate({ prompt: " \n\t a lighthouse\tat dawn\r\nfoggy \t\n " }, model);

    // Assess
    expect(request.prompt).toBe("a lighthouse\tat dawn\r\nfoggy");
  });

  it.each([CORE, NOVA, TITAN])("accepts Norwegian letters and emoji as they are (%s)", (model) => {
    // Act
    const request = validate({ prompt: "Blåbærsyltetøy på ærfugl 🦆🌅, ÆØÅ" }, model);

    // Assess
    expect(request.prompt).toBe("Blåbærsyltetøy på ærfugl 🦆🌅, ÆØÅ");
  });

  it.each([
    ["BEL", "\u0007", "0007"],
    ["ESC", "\u001b", "001B"],
    ["NUL", "\u0000", "0000"],
    ["DEL", "\u007f", "007F"],
    ["NEL", "\u0085", "0085"],
    ["CSI", "\u009b", "009B"],
  ])("refuses the control character %s and says what is accepted", (_name, character, code) => {
    // Act
    const error = refusal({ prompt: `ring the bell${character} twice` });

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe(
      `"prompt" contains the control character U+${code} at position 13; only printable text, tabs and line breaks are accepted`,
    );
  });

  it.each([
    ["a high surrogate", "\ud800", "D800"],
    ["a low surrogate", "\udc00", "DC00"],
  ])("calls %s without its pair an unpaired surrogate, not a control character", (_name, character, code) => {
    // Act
    const error = refusal({ prompt: `ring the bell${character} twice` });

    // Assess
    expect(error.message).toBe(
      `"prompt" contains an unpaired surrogate U+${code} at position 13 (not valid Unicode text); only printable text, tabs and line breaks are accepted`,
    );
  });

  it("accepts a surrogate pair (an emoji) next to where an unpaired one would be refused", () => {
    expect(validate({ prompt: "ring the bell\ud83d\udd14 twice" }).prompt).toBe("ring the bell🔔 twice");
  });

  it("refuses a control character at the very start, which trimming does not remove", () => {
    expect(refusal({ prompt: "\u0085a lighthouse" }, TITAN).message).toMatch(/U\+0085 at position 0/);
  });

  it.each([
    ["zero-width spaces", "\u200b\u200b\u200b"],
    ["a zero-width joiner and a word joiner", "\u200d\u2060"],
  ])("refuses a prompt of only %s", (_name, prompt) => {
    // Act
    const error = refusal({ prompt });

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe(
      '"prompt" has no visible characters (only invisible format characters such as zero-width spaces): send at least one letter, digit or symbol',
    );
  });

  it.each([CORE, NOVA])("accepts a prompt of emoji alone (%s)", (model) => {
    expect(validate({ prompt: "🏔️🌅" }, model).prompt).toBe("🏔️🌅");
  });
});

describe("validateImageRequest: negativePrompt", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each([
    ["absent", {}],
    ["null", { negativePrompt: null }],
  ])("is null when %s", (_kind, extra) => {
    expect(validate({ prompt: "a cat", ...extra }).negativePrompt).toBeNull();
  });

  it.each([CORE, ULTRA, SD35, NOVA, TITAN, TITAN_V1])(
    "is accepted and trimmed by %s, whose catalog row says it takes one",
    (model) => {
      expect(validate({ prompt: "a cat", negativePrompt: "  dogs, blur \n" }, model).negativePrompt).toBe("dogs, blur");
    },
  );

  it.each([
    [CORE, 10_000, CORE_LABEL],
    [NOVA, 1024, NOVA_LABEL],
    [TITAN, 512, TITAN_LABEL],
  ])("is held to %s's limit (%i), naming the model", (model, limit, label) => {
    // Act
    const accepted = validate({ prompt: "a cat", negativePrompt: "x".repeat(limit) }, model);
    const error = refusal({ prompt: "a cat", negativePrompt: "x".repeat(limit + 1) }, model);

    // Assess
    expect(accepted.negativePrompt).toHaveLength(limit);
    expect(error.message).toBe(`"negativePrompt" is ${limit + 1} characters long; ${label} accepts at most ${limit}`);
  });

  it("refuses an empty negativePrompt and says to omit it", () => {
    // Act
    const error = refusal({ prompt: "a cat", negativePrompt: "   " });

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe('"negativePrompt" is empty: omit it or send at least one non-whitespace character');
  });

  it("refuses a negativePrompt that is not a string or has control characters", () => {
    expect(refusal({ prompt: "a cat", negativePrompt: 7 }).message).toBe(
      '"negativePrompt" must be a string, got a number',
    );
    expect(refusal({ prompt: "a cat", negativePrompt: "dogs\u001b[31m" }, NOVA).message).toMatch(
      /^"negativePrompt" contains the control character U\+001B/,
    );
  });

  it("is refused, naming the model, when the model's limits take no negative prompt", () => {
    // Prepare: no catalog row says so today, so the family's limits are made to say it.
    const limits = stabilityImage.limits;
    vi.spyOn(stabilityImage, "limits").mockImplementation((model) => ({
      ...limits.call(stabilityImage, model),
      maxNegativePromptLength: undefined,
    }));

    // Act
    const error = refusal({ prompt: "a cat", negativePrompt: "dogs" });

    // Assess
    expect(error.message).toBe(`"negativePrompt" is not accepted by ${CORE_LABEL}: omit it, or choose another "model"`);
    expect(validate({ prompt: "a cat" }).negativePrompt).toBeNull();
  });
});

describe("validateImageRequest: seed", () => {
  it.each([
    [CORE, STABILITY_MAX_SEED],
    [SD35, STABILITY_MAX_SEED],
    [NOVA, NOVA_MAX_SEED],
    [TITAN, TITAN_MAX_SEED],
  ])("accepts 0 and the maximum for %s (%i)", (model, maxSeed) => {
    expect(validate({ prompt: "a cat", seed: 0 }, model).seed).toBe(0);
    expect(validate({ prompt: "a cat", seed: maxSeed }, model).seed).toBe(maxSeed);
  });

  it.each([STABILITY_MAX_SEED + 1, -1, 1.5, "42", true])(
    "refuses %j as a Stability seed, stating the range and that 0 lets the model pick one",
    (seed) => {
      // Act
      const error = refusal({ prompt: "a cat", seed });

      // Assess
      expect(error.name).toBe("InvalidPrompt");
      expect(error.message).toBe(
        `"seed" must be an integer from 0 to 4294967294 for ${CORE_LABEL} (0 lets the model pick one), got ${quote(seed)}`,
      );
    },
  );

  it.each([NOVA_MAX_SEED + 1, TITAN_MAX_SEED, -1, 1.5, "42", true])(
    "refuses %j as a Nova Canvas seed, stating the range without the Stability hint",
    (seed) => {
      // Act
      const error = refusal({ prompt: "a cat", seed }, NOVA);

      // Assess
      expect(error.name).toBe("InvalidPrompt");
      expect(error.message).toBe(
        `"seed" must be an integer from 0 to 858993459 for ${NOVA_LABEL}, got ${JSON.stringify(seed)}`,
      );
    },
  );

  it("refuses a Titan seed above 2147483646", () => {
    expect(refusal({ prompt: "a cat", seed: TITAN_MAX_SEED + 1 }, TITAN).message).toBe(
      `"seed" must be an integer from 0 to 2147483646 for ${TITAN_LABEL}, got 2147483647`,
    );
  });

  it("defaults to a seed derived from the jobId: the same job draws the same picture", () => {
    // Act
    const first = validateImageRequest({ prompt: "a cat", model: NOVA }, ALL_MODELS, "job-a").seed;
    const again = validateImageRequest({ prompt: "a cat", model: NOVA }, ALL_MODELS, "job-a").seed;
    const other = validateImageRequest({ prompt: "a cat", model: NOVA }, ALL_MODELS, "job-b").seed;

    // Assess
    expect(again).toBe(first);
    expect(other).not.toBe(first);
    expect(first).toBe(defaultSeed("job-a", { maxSeed: NOVA_MAX_SEED, zeroSeedIsRandom: false }));
  });

  it.each([
    [CORE, STABILITY_MAX_SEED, 1],
    [NOVA, NOVA_MAX_SEED, 0],
    [TITAN, TITAN_MAX_SEED, 0],
  ])("keeps every default seed for %s within %i and at least %i", (model, maxSeed, minimum) => {
    for (let i = 0; i < 200; i++) {
      const seed = validateImageRequest({ prompt: "a cat", model }, ALL_MODELS, `job-${i}`).seed;
      expect(Number.isInteger(seed) && seed >= minimum && seed <= maxSeed).toBe(true);
    }
  });

  it("never draws 0 where 0 asks the model for a random seed, and may draw it where it does not", () => {
    // Prepare: a range of two seeds, so about half of all jobs hash to 0.
    const jobIds = Array.from({ length: 40 }, (_, i) => `job-${i}`);

    // Act
    const random = jobIds.map((jobId) => defaultSeed(jobId, { maxSeed: 1, zeroSeedIsRandom: true }));
    const plain = jobIds.map((jobId) => defaultSeed(jobId, { maxSeed: 1, zeroSeedIsRandom: false }));

    // Assess
    expect(new Set(random)).toEqual(new Set([1]));
    expect(new Set(plain)).toEqual(new Set([0, 1]));
  });
});

describe("validateImageRequest: aspectRatio", () => {
  it.each(STABILITY_RATIOS.split(", "))(
    "accepts %s for Stable Image Core and sizes it in that orientation",
    (ratio) => {
      // Prepare
      const [w, h] = ratio.split(":").map(Number) as [number, number];

      // Act
      const request = validate({ prompt: "a cat", aspectRatio: ratio });

      // Assess
      expect(request.aspectRatio).toBe(ratio);
      expect(Math.sign(request.width - request.height)).toBe(Math.sign(w - h));
      expect(request.width / request.height).toBeCloseTo(w / h, 0);
    },
  );

  it.each(["4:3", "1:2", "16x9", " 1:1", "", 16, ["1:1"]])(
    "refuses %j for Stable Image Core, listing its nine ratios",
    (aspectRatio) => {
      // Act
      const error = refusal({ prompt: "a cat", aspectRatio });

      // Assess
      expect(error.name).toBe("InvalidPrompt");
      expect(error.message).toBe(
        `"aspectRatio" must be one of ${STABILITY_RATIOS} for ${CORE_LABEL}, got ${quote(aspectRatio)}`,
      );
    },
  );

  it.each([
    ["16:9", 1280, 720],
    ["1:1", 1024, 1024],
    ["9:16", 720, 1280],
  ])("maps %s to %ix%i for Nova Canvas", (aspectRatio, width, height) => {
    expect(validate({ prompt: "a cat", aspectRatio }, NOVA)).toMatchObject({ aspectRatio, width, height });
  });

  it.each(STABILITY_RATIOS.split(", "))(
    "maps %s for Nova Canvas to a size Nova accepts as width and height, within 1% of the ratio",
    (ratio) => {
      // Prepare
      const [w, h] = ratio.split(":").map(Number) as [number, number];

      // Act
      const request = validate({ prompt: "a cat", aspectRatio: ratio }, NOVA);
      const asPixels = validate({ prompt: "a cat", width: request.width, height: request.height }, NOVA);

      // Assess
      expect(request.aspectRatio).toBe(ratio);
      expect(Math.abs(request.width / request.height / (w / h) - 1)).toBeLessThan(0.01);
      expect(asPixels).toMatchObject({ width: request.width, height: request.height });
    },
  );

  it.each([
    ["1:1", 1024, 1024],
    ["3:2", 1152, 768],
    ["2:3", 768, 1152],
  ])("maps %s to %ix%i for Titan, a size on its list", (aspectRatio, width, height) => {
    // Act
    const request = validate({ prompt: "a cat", aspectRatio }, TITAN);
    const asPixels = validate({ prompt: "a cat", width, height }, TITAN);

    // Assess
    expect(request).toMatchObject({ aspectRatio, width, height });
    expect(asPixels).toMatchObject({ width, height });
  });

  it.each(["16:9", "9:16", "21:9"])("refuses %s for Titan, listing its three ratios", (aspectRatio) => {
    expect(refusal({ prompt: "a cat", aspectRatio }, TITAN).message).toBe(
      `"aspectRatio" must be one of 1:1, 3:2, 2:3 for ${TITAN_LABEL}, got "${aspectRatio}"`,
    );
  });

  it.each([
    [CORE, "__proto__"],
    [CORE, "constructor"],
    [NOVA, "toString"],
    [NOVA, "__proto__"],
    [TITAN, "hasOwnProperty"],
    [TITAN, "constructor"],
  ])("refuses the prototype key %j as an aspect ratio for %s", (model, aspectRatio) => {
    // Act
    const error = refusal({ prompt: "a cat", aspectRatio }, model);

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toMatch(new RegExp(`^"aspectRatio" must be one of .*, got "${aspectRatio}"$`));
  });
});

describe("validateImageRequest: width and height", () => {
  it.each([[{ width: 1024, height: 1024 }], [{ width: 1344, height: 768 }], [{ width: 1024 }], [{ height: 0 }]])(
    "refuses pixels for Stable Image Core (%j), naming aspectRatio and its values",
    (size) => {
      // Act
      const error = refusal({ prompt: "a cat", ...size });

      // Assess
      expect(error.name).toBe("InvalidPrompt");
      expect(error.message).toBe(
        `${CORE_LABEL} takes no pixel size ("width", "height"): send "aspectRatio", one of ${STABILITY_RATIOS}`,
      );
    },
  );

  it.each([CORE, ULTRA, SD35])(
    "tells a model that takes no pixels (%s) to send only aspectRatio when both are sent",
    (model) => {
      // Act
      const error = refusal({ prompt: "a cat", aspectRatio: "1:1", width: 1024, height: 1024 }, model);

      // Assess
      expect(error.message).toMatch(
        /takes no pixel size \("width", "height"\): send only "aspectRatio", one of 16:9, /,
      );
      expect(error.message).not.toMatch(/or "width" and "height"/);
    },
  );

  it.each([NOVA, TITAN])("refuses aspectRatio together with width and height for %s", (model) => {
    expect(refusal({ prompt: "a cat", aspectRatio: "1:1", width: 1024, height: 1024 }, model).message).toMatch(
      /^Send "aspectRatio" or "width" and "height", not both; .* accepts aspectRatio /,
    );
  });

  it.each([
    [1280, 720, "16:9"],
    [320, 320, "1:1"],
    [2048, 1024, "2:1"],
    [320, 1280, "1:4"],
    [2560, 1440, "16:9"],
    [1248, 832, "3:2"],
  ])("accepts %ix%i for Nova Canvas and records the reduced ratio %s", (width, height, aspectRatio) => {
    // Act
    const request = validate({ prompt: "a cat", width, height }, NOVA);

    // Assess
    expect(request).toMatchObject({ width, height, aspectRatio });
  });

  it.each([[{ width: 1024 }], [{ height: 1024 }], [{ width: null, height: 1024 }]])(
    "refuses only one of width and height for Nova Canvas (%j)",
    (size) => {
      // Act
      const error = refusal({ prompt: "a cat", ...size }, NOVA);

      // Assess
      expect(error.name).toBe("InvalidPrompt");
      expect(error.message).toBe('"width" and "height" go together: send both or neither');
    },
  );

  it.each([
    [1000, 1024, "width", 1000],
    [1024, 1000, "height", 1000],
    [304, 1024, "width", 304],
    [1024, 4112, "height", 4112],
  ])("refuses %ix%i for Nova Canvas: not a multiple of 16 or out of range", (width, height, side, value) => {
    expect(refusal({ prompt: "a cat", width, height }, NOVA).message).toBe(
      `"${side}" must be a multiple of 16 from 320 to 4096 for ${NOVA_LABEL}, got ${value}`,
    );
  });

  it("refuses more pixels than Nova Canvas renders, naming the model", () => {
    expect(refusal({ prompt: "a cat", width: 4096, height: 2048 }, NOVA).message).toBe(
      `4096x2048 has 8388608 pixels; ${NOVA_LABEL} accepts at most 4194304`,
    );
  });

  it.each([
    [1296, 320, "1296x320 is wider than 4:1"],
    [4096, 1008, "4096x1008 is wider than 4:1"],
    [320, 1296, "320x1296 is taller than 1:4"],
    [496, 2064, "496x2064 is taller than 1:4"],
  ])("refuses %ix%i for Nova Canvas, saying which way it is too long and naming the model", (width, height, what) => {
    expect(refusal({ prompt: "a cat", width, height }, NOVA).message).toBe(
      `${what}; ${NOVA_LABEL} accepts aspect ratios from 1:4 to 4:1`,
    );
  });

  it.each([1024.5, "1024", true, [1024]])("refuses a width that is not an integer (%j)", (width) => {
    expect(refusal({ prompt: "a cat", width, height: 1024 }, NOVA).message).toBe(
      `"width" must be an integer number of pixels, got ${JSON.stringify(width)}`,
    );
  });

  it.each([
    [1173, 640, "1173:640"],
    [1152, 640, "9:5"],
    [512, 512, "1:1"],
    [384, 704, "6:11"],
  ])("accepts %ix%i from Titan's list and records the ratio %s", (width, height, aspectRatio) => {
    expect(validate({ prompt: "a cat", width, height }, TITAN)).toMatchObject({ width, height, aspectRatio });
  });

  it.each([
    [1024, 768],
    [640, 1173],
    [2048, 2048],
  ])("refuses %ix%i for Titan and lists the accepted sizes", (width, height) => {
    // Act
    const error = refusal({ prompt: "a cat", width, height }, TITAN);

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toMatch(
      new RegExp(
        `^${width}x${height} is not a size Amazon Titan Image Generator G1 v2 \\(amazon\\.titan-image-generator-v2:0\\) accepts; accepted sizes: 1024x1024, 768x768, `,
      ),
    );
  });
});

describe("validateImageRequest: outputFormat", () => {
  it.each([
    ["png", CORE],
    ["jpeg", CORE],
    ["jpeg", ULTRA],
    ["jpeg", SD35],
    ["png", NOVA],
    ["png", TITAN],
  ])("accepts %s for %s", (outputFormat, model) => {
    expect(validate({ prompt: "a cat", outputFormat }, model).outputFormat).toBe(outputFormat);
  });

  it.each(["webp", "PNG", "jpg", "", 1])("refuses %j for Stable Image Core and says png or jpeg", (outputFormat) => {
    expect(refusal({ prompt: "a cat", outputFormat }).message).toBe(
      `"outputFormat" must be png or jpeg for ${CORE_LABEL}, got ${JSON.stringify(outputFormat)}`,
    );
  });

  it.each([
    [NOVA, NOVA_LABEL],
    [TITAN, TITAN_LABEL],
  ])("refuses jpeg for %s: the Amazon models return PNG only", (model, label) => {
    // Act
    const error = refusal({ prompt: "a cat", outputFormat: "jpeg" }, model);

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe(`"outputFormat" must be png for ${label}, got "jpeg"`);
  });
});

describe("validateImageRequest: quality", () => {
  it.each(["standard", "premium", "high"])(
    "refuses %j for Stable Image Core, which has no quality setting",
    (quality) => {
      expect(refusal({ prompt: "a cat", quality }).message).toBe(
        `"quality" is not accepted by ${CORE_LABEL}: omit it, or choose another "model"`,
      );
    },
  );

  it.each([NOVA, TITAN])("defaults to standard and accepts premium for %s", (model) => {
    expect(validate({ prompt: "a cat" }, model).quality).toBe("standard");
    expect(validate({ prompt: "a cat", quality: "premium" }, model).quality).toBe("premium");
  });

  it.each(["high", "Premium", 1])("refuses %j for Nova Canvas and lists the accepted qualities", (quality) => {
    expect(refusal({ prompt: "a cat", quality }, NOVA).message).toBe(
      `"quality" must be one of standard, premium for ${NOVA_LABEL}, got ${JSON.stringify(quality)}`,
    );
  });
});

describe("quote", () => {
  it("quotes a short value as JSON", () => {
    expect(quote("a cat")).toBe('"a cat"');
    expect(quote(42)).toBe("42");
    expect(quote(undefined)).toBe("undefined");
    expect(quote({ a: [1] })).toBe('{"a":[1]}');
  });

  it("keeps a 15 KB value to at most 60 characters, marked as cut", () => {
    // Act
    const quoted = quote("x".repeat(15 * 1024));

    // Assess
    expect(quoted.length).toBeLessThanOrEqual(60);
    expect(quoted).toBe(`"${"x".repeat(56)}...`);
  });

  it("keeps a refusal short when the offending value is 15 KB", () => {
    // Act
    const error = refusal({ prompt: "a cat", aspectRatio: "9".repeat(15 * 1024) });

    // Assess
    expect(error.message.length).toBeLessThan(200);
    expect(error.message).toMatch(/, got "9{56}\.\.\.$/);
  });

  it.each([
    ["1e309", Number.POSITIVE_INFINITY],
    ["-1e309", Number.NEGATIVE_INFINITY],
  ])("says a number too large was sent for %s (JSON.parse makes it Infinity), not null", (_sent, value) => {
    // Act
    const error = refusal({ prompt: "a cat", seed: value });

    // Assess
    expect(quote(value)).toBe("a number too large");
    expect(error.message).toMatch(/^"seed" must be an integer from 0 to 4294967294 .*, got a number too large$/);
  });

  it("says a number too large was sent for a pixel size too", () => {
    expect(refusal({ prompt: "a cat", width: JSON.parse("1e309"), height: 1024 }, NOVA).message).toBe(
      '"width" must be an integer number of pixels, got a number too large',
    );
  });

  it("describes a value JSON.stringify cannot serialise (an array nested 100,000 levels) instead of throwing", () => {
    // Prepare
    const deep = deeplyNestedArray(100_000);
    expect(() => JSON.stringify(deep)).toThrow(RangeError);

    // Act
    const quoted = quote(deep);
    const error = refusal({ prompt: "a cat", seed: deep });

    // Assess
    expect(quoted).toBe("an array");
    expect(error.message).toMatch(/^"seed" must be an integer .*, got an array$/);
  });

  it("never cuts a character in half", () => {
    // Prepare: the opening quote and "a" put each emoji's two UTF-16 units across the cut at 57.
    const value = `a${"🌅".repeat(40)}`;

    // Act
    const quoted = quote(value);

    // Assess
    expect(quoted.endsWith("...")).toBe(true);
    expect(quoted.length).toBeLessThanOrEqual(60);
    expect(quoted).not.toMatch(/\p{Cs}/u);
  });
});

describe("unknownFields", () => {
  it("names the fields outside the contract, and none of the contract's own", () => {
    expect(unknownFields({ prompt: "a cat", style: "anime", Prompt: "x", mode: "text-to-image" })).toEqual([
      "style",
      "Prompt",
      "mode",
    ]);
    expect(unknownFields(Object.fromEntries(REQUEST_FIELDS.map((field) => [field, 1])))).toEqual([]);
  });

  it("has no field named like the pipeline's own key, so a request can never write the pipeline's facts", () => {
    expect(REQUEST_FIELDS).not.toContain(PIPELINE_KEY);
  });

  it("lists the model-family fields in the contract", () => {
    expect(REQUEST_FIELDS).toEqual(
      expect.arrayContaining(["prompt", "negativePrompt", "seed", "aspectRatio", "width", "height", "outputFormat"]),
    );
    expect(REQUEST_FIELDS).toEqual(expect.arrayContaining(["quality", "model"]));
  });
});

// Verifies the ValidatePrompt core: every rule a request must pass before it may reach Bedrock (prompt text, negative
// prompt, seed, size, quality) for Nova Canvas and Titan, the messages a caller gets back, and the step's source and
// expiresAt. Pure functions, no AWS calls; it cannot prove Bedrock itself accepts every request that passes here.
import { describe, expect, it } from "vitest";
import { imageModelLimits } from "../../functions/shared/image-models";
import {
  defaultSeed,
  InvalidPromptError,
  REQUEST_FIELDS,
  unknownFields,
  validateImageRequest,
  validatePromptStep,
} from "../../functions/validate-prompt/validate-prompt";

const NOVA = imageModelLimits("amazon.nova-canvas-v1:0");
const TITAN = imageModelLimits("amazon.titan-image-generator-v2:0");
const JOB_ID = "job-1";

/** The InvalidPrompt error a request is refused with; fails the test when the request is accepted. */
function refusal(fields: unknown, limits = NOVA): InvalidPromptError {
  try {
    validateImageRequest(fields, limits, JOB_ID);
  } catch (error) {
    if (error instanceof InvalidPromptError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(fields)} to be refused, but it was accepted`);
}

describe("validateImageRequest: prompt", () => {
  it("accepts a prompt alone and fills the model's defaults", () => {
    // Act
    const request = validateImageRequest({ prompt: "a lighthouse at dawn" }, NOVA, JOB_ID);

    // Assess
    expect(request).toEqual({
      prompt: "a lighthouse at dawn",
      negativePrompt: null,
      seed: defaultSeed(JOB_ID, NOVA.maxSeed),
      width: 1024,
      height: 1024,
      quality: "standard",
    });
  });

  it("trims surrounding whitespace and keeps tabs and line breaks inside", () => {
    // Act
    const request = validateImageRequest({ prompt: " \n\t a lighthouse\tat dawn\r\nfoggy \t\n " }, NOVA, JOB_ID);

    // Assess
    expect(request.prompt).toBe("a lighthouse\tat dawn\r\nfoggy");
  });

  it("accepts Norwegian letters and emoji as they are", () => {
    // Act
    const request = validateImageRequest({ prompt: "Blåbærsyltetøy på ærfugl 🦆🌅, ÆØÅ" }, NOVA, JOB_ID);

    // Assess
    expect(request.prompt).toBe("Blåbærsyltetøy på ærfugl 🦆🌅, ÆØÅ");
  });

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
    expect(error.message).toBe('"prompt" is required: a non-empty string of at most 1024 characters');
  });

  it("states the configured model's limit in the 'required' message", () => {
    expect(refusal({}, TITAN).message).toBe('"prompt" is required: a non-empty string of at most 512 characters');
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

  it("accepts exactly 1024 characters for Nova Canvas and refuses 1025, saying the limit", () => {
    // Act
    const accepted = validateImageRequest({ prompt: "a".repeat(1024) }, NOVA, JOB_ID);
    const error = refusal({ prompt: "a".repeat(1025) });

    // Assess
    expect(accepted.prompt).toHaveLength(1024);
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe('"prompt" is 1025 characters long; this model (nova-canvas) accepts at most 1024');
  });

  it("accepts exactly 512 characters for Titan and refuses 513", () => {
    // Act
    const accepted = validateImageRequest({ prompt: "a".repeat(512) }, TITAN, JOB_ID);
    const error = refusal({ prompt: "a".repeat(513) }, TITAN);

    // Assess
    expect(accepted.prompt).toHaveLength(512);
    expect(error.message).toBe('"prompt" is 513 characters long; this model (titan-image) accepts at most 512');
  });

  it("counts code points, so an emoji is one character although it is two UTF-16 units", () => {
    // Prepare
    const atLimit = "🌅".repeat(1024);
    const overLimit = "🌅".repeat(1025);

    // Act
    const accepted = validateImageRequest({ prompt: atLimit }, NOVA, JOB_ID);
    const error = refusal({ prompt: overLimit });

    // Assess
    expect(atLimit.length).toBe(2048);
    expect(accepted.prompt).toBe(atLimit);
    expect(error.message).toMatch(/^"prompt" is 1025 characters long/);
  });

  it("counts æøå as one character each", () => {
    expect(validateImageRequest({ prompt: `${"æøå".repeat(170)}æø` }, TITAN, JOB_ID).prompt).toHaveLength(512);
    expect(refusal({ prompt: "æøå".repeat(171) }, TITAN).message).toMatch(/^"prompt" is 513 characters long/);
  });

  it("measures the length after trimming", () => {
    expect(validateImageRequest({ prompt: `   ${"a".repeat(1024)}\n` }, NOVA, JOB_ID).prompt).toHaveLength(1024);
  });

  it.each([
    ["BEL", "\u0007", "0007"],
    ["ESC", "\u001b", "001B"],
    ["NUL", "\u0000", "0000"],
    ["DEL", "\u007f", "007F"],
    ["NEL", "\u0085", "0085"],
    ["CSI", "\u009b", "009B"],
    ["a lone surrogate", "\ud800", "D800"],
  ])("refuses the control character %s and says what is accepted", (_name, character, code) => {
    // Act
    const error = refusal({ prompt: `ring the bell${character} twice` });

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe(
      `"prompt" contains the control character U+${code} at position 13; only printable text, tabs and line breaks are accepted`,
    );
  });

  it("refuses a control character at the very start, which trimming does not remove", () => {
    expect(refusal({ prompt: "\u0085a lighthouse" }).message).toMatch(/U\+0085 at position 0/);
  });
});

describe("validateImageRequest: negativePrompt", () => {
  it.each([
    ["absent", {}],
    ["null", { negativePrompt: null }],
  ])("is null when %s", (_kind, extra) => {
    expect(validateImageRequest({ prompt: "a cat", ...extra }, NOVA, JOB_ID).negativePrompt).toBeNull();
  });

  it("is trimmed", () => {
    expect(validateImageRequest({ prompt: "a cat", negativePrompt: "  dogs, blur \n" }, NOVA, JOB_ID)).toMatchObject({
      negativePrompt: "dogs, blur",
    });
  });

  it("refuses an empty negativePrompt and says to omit it", () => {
    // Act
    const error = refusal({ prompt: "a cat", negativePrompt: "   " });

    // Assess
    expect(error.name).toBe("InvalidPrompt");
    expect(error.message).toBe('"negativePrompt" is empty: omit it or send at least one non-whitespace character');
  });

  it("refuses a negativePrompt that is not a string, over the model's limit, or has control characters", () => {
    expect(refusal({ prompt: "a cat", negativePrompt: 7 }).message).toBe(
      '"negativePrompt" must be a string, got a number',
    );
    expect(refusal({ prompt: "a cat", negativePrompt: "x".repeat(513) }, TITAN).message).toBe(
      '"negativePrompt" is 513 characters long; this model (titan-image) accepts at most 512',
    );
    expect(refusal({ prompt: "a cat", negativePrompt: "dogs\u001b[31m" }).message).toMatch(
      /^"negativePrompt" contains the control character U\+001B/,
    );
  });
});

describe("validateImageRequest: seed", () => {
  it("defaults to a seed derived from the jobId: the same job draws the same picture", () => {
    // Act
    const first = validateImageRequest({ prompt: "a cat" }, NOVA, "job-a").seed;
    const again = validateImageRequest({ prompt: "a cat" }, NOVA, "job-a").seed;
    const other = validateImageRequest({ prompt: "a cat" }, NOVA, "job-b").seed;

    // Assess
    expect(again).toBe(first);
    expect(other).not.toBe(first);
    expect(first).toBe(defaultSeed("job-a", NOVA.maxSeed));
  });

  it("keeps every default seed within the model's range", () => {
    for (let i = 0; i < 200; i++) {
      const nova = defaultSeed(`job-${i}`, NOVA.maxSeed);
      const titan = defaultSeed(`job-${i}`, TITAN.maxSeed);
      expect(Number.isInteger(nova) && nova >= 0 && nova <= NOVA.maxSeed).toBe(true);
      expect(Number.isInteger(titan) && titan >= 0 && titan <= TITAN.maxSeed).toBe(true);
    }
  });

  it("accepts 0 and the model's maximum", () => {
    expect(validateImageRequest({ prompt: "a cat", seed: 0 }, NOVA, JOB_ID).seed).toBe(0);
    expect(validateImageRequest({ prompt: "a cat", seed: 858_993_459 }, NOVA, JOB_ID).seed).toBe(858_993_459);
    expect(validateImageRequest({ prompt: "a cat", seed: 2_147_483_646 }, TITAN, JOB_ID).seed).toBe(2_147_483_646);
  });

  it.each([858_993_460, 2_147_483_646, -1, 1.5, "42", true])(
    "refuses %j as a Nova Canvas seed and states the range",
    (seed) => {
      // Act
      const error = refusal({ prompt: "a cat", seed });

      // Assess
      expect(error.name).toBe("InvalidPrompt");
      expect(error.message).toBe(`"seed" must be an integer from 0 to 858993459, got ${JSON.stringify(seed)}`);
    },
  );

  it("refuses a Titan seed above 2147483646", () => {
    expect(refusal({ prompt: "a cat", seed: 2_147_483_647 }, TITAN).message).toBe(
      '"seed" must be an integer from 0 to 2147483646, got 2147483647',
    );
  });
});

describe("validateImageRequest: width and height", () => {
  it.each([
    [1280, 720],
    [320, 320],
    [2048, 2048],
    [320, 1280],
    [2560, 1440],
  ])("accepts %ix%i for Nova Canvas", (width, height) => {
    // Act
    const request = validateImageRequest({ prompt: "a cat", width, height }, NOVA, JOB_ID);

    // Assess
    expect(request).toMatchObject({ width, height });
  });

  it.each([[{ width: 1024 }], [{ height: 1024 }], [{ width: null, height: 1024 }]])(
    "refuses only one of width and height (%j)",
    (size) => {
      // Act
      const error = refusal({ prompt: "a cat", ...size });

      // Assess
      expect(error.name).toBe("InvalidPrompt");
      expect(error.message).toBe('"width" and "height" go together: send both or neither');
    },
  );

  it.each([
    [1000, 1024, '"width" must be a multiple of 16 from 320 to 4096, got 1000'],
    [1024, 1000, '"height" must be a multiple of 16 from 320 to 4096, got 1000'],
    [304, 1024, '"width" must be a multiple of 16 from 320 to 4096, got 304'],
    [1024, 4112, '"height" must be a multiple of 16 from 320 to 4096, got 4112'],
  ])("refuses %ix%i for Nova Canvas: not a multiple of 16 or out of range", (width, height, message) => {
    expect(refusal({ prompt: "a cat", width, height }).message).toBe(message);
  });

  it("refuses more pixels than Nova Canvas renders", () => {
    expect(refusal({ prompt: "a cat", width: 4096, height: 2048 }).message).toBe(
      "4096x2048 has 8388608 pixels; at most 4194304 are accepted",
    );
  });

  it.each([
    [1296, 320],
    [320, 1296],
    [4096, 1008],
  ])("refuses %ix%i: an aspect ratio beyond 4:1", (width, height) => {
    expect(refusal({ prompt: "a cat", width, height }).message).toMatch(
      /the aspect ratio must be between 1:4 and 4:1$/,
    );
  });

  it.each([1024.5, "1024", true])("refuses a width that is not an integer (%j)", (width) => {
    expect(refusal({ prompt: "a cat", width, height: 1024 }).message).toBe(
      `"width" must be an integer number of pixels, got ${JSON.stringify(width)}`,
    );
  });

  it.each([
    [1173, 640],
    [1152, 640],
    [512, 512],
    [384, 704],
  ])("accepts %ix%i from Titan's list", (width, height) => {
    expect(validateImageRequest({ prompt: "a cat", width, height }, TITAN, JOB_ID)).toMatchObject({ width, height });
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
      new RegExp(`^${width}x${height} is not a size this model accepts; accepted sizes: 1024x1024, 768x768, `),
    );
  });
});

describe("validateImageRequest: quality", () => {
  it("defaults to standard and accepts premium", () => {
    expect(validateImageRequest({ prompt: "a cat" }, NOVA, JOB_ID).quality).toBe("standard");
    expect(validateImageRequest({ prompt: "a cat", quality: "premium" }, NOVA, JOB_ID).quality).toBe("premium");
  });

  it.each(["high", "Premium", 1])("refuses %j and lists the accepted qualities", (quality) => {
    expect(refusal({ prompt: "a cat", quality }).message).toBe(
      `"quality" must be one of standard, premium, got ${JSON.stringify(quality)}`,
    );
  });
});

describe("unknownFields", () => {
  it("names the fields outside the accepted request fields", () => {
    expect(unknownFields({ prompt: "a cat", style: "anime", Prompt: "x" })).toEqual(["style", "Prompt"]);
    expect(unknownFields(Object.fromEntries(REQUEST_FIELDS.map((field) => [field, 1])))).toEqual([]);
  });
});

describe("validatePromptStep", () => {
  const config = { limits: NOVA, retentionDays: 30 };
  const startedAt = "2026-11-23T12:00:00.750Z";
  const startedAtSeconds = Date.UTC(2026, 10, 23, 12, 0, 0) / 1000;

  it("returns the validated request, the source and the record's expiry (startedAt + retentionDays)", () => {
    // Prepare
    const event = {
      input: { jobId: JOB_ID, prompt: "  a lighthouse  ", source: "sqs", requestedAt: startedAt },
      jobId: JOB_ID,
      startedAt,
    };

    // Act
    const result = validatePromptStep(event, config);

    // Assess
    expect(result).toEqual({
      request: validateImageRequest({ prompt: "a lighthouse" }, NOVA, JOB_ID),
      source: "sqs",
      expiresAt: startedAtSeconds + 30 * 86_400,
    });
  });

  it.each([
    ["api", "api"],
    ["sqs", "sqs"],
    [undefined, "direct"],
    ["console", "direct"],
    [42, "direct"],
  ])("normalises source %j to %j", (source, expected) => {
    expect(validatePromptStep({ input: { prompt: "a cat", source }, jobId: JOB_ID, startedAt }, config).source).toBe(
      expected,
    );
  });

  it("uses the configured retention", () => {
    // Act
    const result = validatePromptStep(
      { input: { prompt: "a cat" }, jobId: JOB_ID, startedAt },
      { ...config, retentionDays: 1 },
    );

    // Assess
    expect(result.expiresAt).toBe(startedAtSeconds + 86_400);
  });

  it("draws the default seed from the execution's jobId", () => {
    expect(validatePromptStep({ input: { prompt: "a cat" }, jobId: "job-z", startedAt }, config).request.seed).toBe(
      defaultSeed("job-z", NOVA.maxSeed),
    );
  });

  it.each([
    ["an input without a prompt", { source: "api" }],
    ["an input that is a string", "a lighthouse"],
    ["an oversized prompt", { prompt: "a".repeat(1025) }],
  ])("throws InvalidPrompt for %s, the name the state machine catches", (_kind, input) => {
    expect(() => validatePromptStep({ input, jobId: JOB_ID, startedAt }, config)).toThrow(InvalidPromptError);
    expect(() => validatePromptStep({ input, jobId: JOB_ID, startedAt }, config)).toThrow(
      expect.objectContaining({ name: "InvalidPrompt" }),
    );
  });
});

describe("prompts with nothing to draw, and oversized SQS messages", () => {
  it.each([
    ["zero-width spaces", "\u200b\u200b\u200b"],
    ["a zero-width joiner and a word joiner", "\u200d\u2060"],
  ])("refuses a prompt of only %s", (_name, prompt) => {
    const error = refusal({ prompt });
    expect(error.message).toBe(
      '"prompt" has no visible characters (only invisible format characters such as zero-width spaces): send at least one letter, digit or symbol',
    );
  });

  it("accepts a prompt of emoji alone", () => {
    expect(validateImageRequest({ prompt: "🏔️🌅" }, NOVA, JOB_ID).prompt).toBe("🏔️🌅");
  });

  it("rejects an execution input marked oversized by the SQS adapter, saying what is accepted", () => {
    // Prepare
    const event = {
      input: { jobId: JOB_ID, source: "sqs", oversizedBodyBytes: 300_000 },
      jobId: JOB_ID,
      startedAt: "2026-11-23T12:00:00.000Z",
    };

    // Act + Assess
    expect(() => validatePromptStep(event, { limits: NOVA, retentionDays: 30 })).toThrow(
      new InvalidPromptError(
        'The message body is 300000 bytes; at most 16384 bytes are accepted (send {"prompt": "..."} or the prompt as plain text, at most 1024 characters)',
      ),
    );
  });
});

import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import type { OutputFormat } from "../../functions/shared/models/family";
import { seededRandom } from "./seeded-random";

/** What a stand-in image is drawn from; the same spec always gives the same bytes. */
export interface ImageSpec {
  prompt: string;
  negativePrompt: string | null;
  seed: number;
  width: number;
  height: number;
  /** Position of the image in a multi-image answer (`numberOfImages` > 1). */
  index: number;
}

/** The `Software` tEXt value of every stand-in PNG, and the first COM segment of every stand-in JPEG. */
export const STAND_IN_SOFTWARE = "couch-imagegen Bedrock stand-in (not a real model)";

type Rgb = readonly [number, number, number];

interface Ridge {
  baseline: number;
  amplitude: number;
  waves: ReadonlyArray<{ cycles: number; phase: number; weight: number }>;
  color: Rgb;
}

interface Scene {
  skyTop: Rgb;
  skyHorizon: Rgb;
  horizon: number;
  disc: { x: number; y: number; radius: number; color: Rgb };
  ridges: readonly Ridge[];
  stars: number;
}

/**
 * Draws a procedural landscape (sky gradient, sun or moon, three mountain ridges) whose every parameter comes
 * from a SHA-256 of the prompt, negative prompt, seed and index, labels it STAND-IN, and encodes it as a PNG
 * whose tEXt chunks say it is not a model's output. Size only scales the scene, so it looks alike at any size.
 */
export function drawStandInPng(spec: ImageSpec): Buffer {
  // Filter "Sub" and zlib level 6 with RLE: the smooth picture compresses well and 1024x1024 encodes in tens of ms.
  const image = new PNG(); // no size given, so pngjs allocates no RGBA buffer of its own
  image.width = spec.width;
  image.height = spec.height;
  image.data = drawStandInPixels(spec);
  const png = PNG.sync.write(image, {
    colorType: 2,
    inputColorType: 2,
    inputHasAlpha: false,
    filterType: 1,
    deflateLevel: 6,
  });
  return withTextChunks(png, { Software: STAND_IN_SOFTWARE, Comment: standInComment(spec) });
}

/** The same picture as `drawStandInPng`, as a JPEG (quality 85) whose COM segments say it is not a model's output. */
export function drawStandInJpeg(spec: ImageSpec): Buffer {
  const rgb = drawStandInPixels(spec);
  const rgba = Buffer.alloc(spec.width * spec.height * 4, 255);
  // jpeg-js reads RGBA; the alpha it ignores is left at 255.
  for (let source = 0, target = 0; source < rgb.length; source += 3, target += 4) {
    rgb.copy(rgba, target, source, source + 3);
  }
  const comments = [STAND_IN_SOFTWARE, standInComment(spec)];
  return jpeg.encode({ width: spec.width, height: spec.height, data: rgba, comments }, JPEG_QUALITY).data;
}

export function drawStandInImage(spec: ImageSpec, format: OutputFormat): Buffer {
  return format === "jpeg" ? drawStandInJpeg(spec) : drawStandInPng(spec);
}

const JPEG_QUALITY = 85;

/** RGB bytes, row by row, of the labelled picture. */
function drawStandInPixels(spec: ImageSpec): Buffer {
  const digest = createHash("sha256")
    .update(
      JSON.stringify(["couch-imagegen stand-in v1", spec.prompt, spec.negativePrompt ?? "", spec.seed, spec.index]),
    )
    .digest();
  const pixels = drawScene(sceneFrom(digest), spec.width, spec.height, seededRandom(digest.readUInt32BE(28)));
  drawLabel(pixels, spec.width, spec.height, "STAND-IN");
  return pixels;
}

function standInComment(spec: ImageSpec): string {
  const promptSha256 = createHash("sha256").update(spec.prompt).digest("hex");
  return `prompt-sha256=${promptSha256}; seed=${spec.seed}; index=${spec.index}; drawn by a stand-in, not by Amazon Bedrock`;
}

function sceneFrom(digest: Buffer): Scene {
  const unit = (i: number) => (digest[i] ?? 0) / 255;
  const mood = (digest[0] ?? 0) % 3;
  const hue = unit(1) * 360;
  const [skyTop, skyHorizon, discColor] =
    mood === 0
      ? [hsl(hue, 0.65, 0.42), hsl(hue + 25, 0.55, 0.82), hsl(48, 1, 0.88)]
      : mood === 1
        ? [hsl(hue, 0.45, 0.28), hsl(hue + 150, 0.8, 0.66), hsl(hue + 160, 1, 0.75)]
        : [hsl(hue, 0.55, 0.06), hsl(hue + 20, 0.4, 0.24), hsl(hue, 0.15, 0.9)];
  const horizon = 0.5 + 0.2 * unit(5);
  const mountainHue = hue + 90 + unit(6) * 180;
  const ridges = [0, 1, 2].map((layer): Ridge => {
    const byte = 7 + layer * 7;
    const haze = [0.45, 0.7, 0.95][layer] ?? 1;
    return {
      baseline: horizon + layer * 0.09,
      amplitude: (0.08 + 0.14 * unit(byte)) * (1 - layer * 0.25),
      waves: [0, 1, 2].map((wave) => ({
        cycles: (1 + ((digest[byte + 1 + wave * 2] ?? 0) % 4)) * (1 + layer * 0.5) * (wave + 1) * 0.75,
        phase: unit(byte + 2 + wave * 2) * Math.PI * 2,
        weight: [0.55, 0.3, 0.15][wave] ?? 0,
      })),
      color: mix(skyHorizon, hsl(mountainHue, 0.35, mood === 2 ? 0.08 : 0.22 - layer * 0.05), haze),
    };
  });
  return {
    skyTop,
    skyHorizon,
    horizon,
    disc: { x: 0.1 + 0.8 * unit(2), y: 0.1 + 0.35 * unit(3), radius: 0.04 + 0.08 * unit(4), color: discColor },
    ridges,
    stars: mood === 2 ? 120 + (digest[29] ?? 0) : 0,
  };
}

function drawScene(scene: Scene, width: number, height: number, random: () => number): Buffer {
  const pixels = Buffer.alloc(width * height * 3);
  const short = Math.min(width, height);
  const ridgeTops = scene.ridges.map((ridge) => ridgeTopRows(ridge, width, height));
  const skyEnd = new Float64Array(width).fill(height);
  for (const tops of ridgeTops) for (let x = 0; x < width; x++) skyEnd[x] = Math.min(skyEnd[x]!, tops[x]!);
  const disc = scene.disc;
  const discX = disc.x * width;
  const discY = disc.y * height;
  const radius = disc.radius * short;
  const glowRadius = radius * 4;
  const horizonRow = scene.horizon * height;
  for (let y = 0; y < height; y++) {
    const sky = mix(scene.skyTop, scene.skyHorizon, Math.min(1, y / horizonRow));
    const dy = y - discY;
    let offset = y * width * 3;
    for (let x = 0; x < width; x++, offset += 3) {
      const layer = nearestLayerAt(ridgeTops, x, y);
      if (layer >= 0) {
        const color = scene.ridges[layer]!.color;
        const shade = 1 - 0.3 * Math.min(1, (y - ridgeTops[layer]![x]!) / height);
        pixels[offset] = color[0] * shade;
        pixels[offset + 1] = color[1] * shade;
        pixels[offset + 2] = color[2] * shade;
        continue;
      }
      let amount = 0;
      const distance = Math.abs(dy) < glowRadius ? Math.sqrt((x - discX) ** 2 + dy * dy) : glowRadius;
      if (distance < glowRadius) {
        amount = Math.max((1 - distance / glowRadius) ** 2 * 0.6, Math.min(1, radius - distance + 0.5));
      }
      pixels[offset] = sky[0] + (disc.color[0] - sky[0]) * amount;
      pixels[offset + 1] = sky[1] + (disc.color[1] - sky[1]) * amount;
      pixels[offset + 2] = sky[2] + (disc.color[2] - sky[2]) * amount;
    }
  }
  for (let star = 0; star < scene.stars; star++) {
    const x = Math.floor(random() * width);
    const y = Math.floor(random() * height * scene.horizon);
    const brightness = 150 + Math.floor(random() * 105);
    if (y < skyEnd[x]! - 1 && Math.hypot(x - discX, y - discY) > glowRadius) {
      pixels.fill(brightness, (y * width + x) * 3, (y * width + x) * 3 + 3);
    }
  }
  return pixels;
}

/** The first row of mountain at each column (rows below it are mountain). */
function ridgeTopRows(ridge: Ridge, width: number, height: number): Float64Array {
  const tops = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    let wave = 0;
    for (const { cycles, phase, weight } of ridge.waves)
      wave += weight * Math.sin((x / width) * cycles * Math.PI * 2 + phase);
    tops[x] = (ridge.baseline - ridge.amplitude * (0.5 + 0.5 * wave)) * height;
  }
  return tops;
}

function nearestLayerAt(ridgeTops: readonly Float64Array[], x: number, y: number): number {
  for (let layer = ridgeTops.length - 1; layer >= 0; layer--) {
    if (y >= ridgeTops[layer]![x]!) return layer;
  }
  return -1;
}

// 5x7 glyphs for the visible label, so anyone opening the file sees it did not come from a model.
const GLYPHS: Record<string, readonly string[]> = {
  S: [" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "],
  T: ["#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "],
  A: [" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"],
  N: ["#   #", "##  #", "# # #", "# # #", "#  ##", "#   #", "#   #"],
  D: ["#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### "],
  I: [" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
  "-": ["     ", "     ", "     ", "#####", "     ", "     ", "     "],
};

function drawLabel(pixels: Buffer, width: number, height: number, text: string): void {
  const dot = Math.max(2, Math.round(Math.min(width, height) / 200));
  const margin = dot * 3;
  const top = height - margin - 7 * dot;
  for (const [shift, value] of [
    [dot, 0],
    [0, 255],
  ] as const) {
    [...text].forEach((character, position) => {
      const left = margin + position * 6 * dot;
      (GLYPHS[character] ?? []).forEach((row, glyphY) => {
        [...row].forEach((cell, glyphX) => {
          if (cell !== "#") return;
          fillRect(pixels, width, height, left + glyphX * dot + shift, top + glyphY * dot + shift, dot, value);
        });
      });
    });
  }
}

function fillRect(
  pixels: Buffer,
  width: number,
  height: number,
  left: number,
  top: number,
  size: number,
  value: number,
) {
  for (let y = Math.max(0, top); y < Math.min(height, top + size); y++) {
    const start = (y * width + Math.max(0, left)) * 3;
    const end = (y * width + Math.min(width, left + size)) * 3;
    if (end > start) pixels.fill(value, start, end);
  }
}

/** Inserts tEXt chunks after IHDR (pngjs writes none); the CRC is Node's zlib.crc32 over type and data. */
function withTextChunks(png: Buffer, entries: Record<string, string>): Buffer {
  const ihdrEnd = 8 + 4 + 4 + 13 + 4;
  const chunks = Object.entries(entries).map(([keyword, text]) => {
    const typeAndData = Buffer.concat([Buffer.from("tEXt", "latin1"), Buffer.from(`${keyword}\0${text}`, "latin1")]);
    const chunk = Buffer.alloc(typeAndData.length + 8);
    chunk.writeUInt32BE(typeAndData.length - 4, 0);
    typeAndData.copy(chunk, 4);
    chunk.writeUInt32BE(crc32(typeAndData), chunk.length - 4);
    return chunk;
  });
  return Buffer.concat([png.subarray(0, ihdrEnd), ...chunks, png.subarray(ihdrEnd)]);
}

function hsl(hueDegrees: number, saturation: number, lightness: number): Rgb {
  const hue = (((hueDegrees % 360) + 360) % 360) / 360;
  const q = lightness < 0.5 ? lightness * (1 + saturation) : lightness + saturation - lightness * saturation;
  const p = 2 * lightness - q;
  const channel = (t: number) => {
    const u = t < 0 ? t + 1 : t > 1 ? t - 1 : t;
    const value = u < 1 / 6 ? p + (q - p) * 6 * u : u < 1 / 2 ? q : u < 2 / 3 ? p + (q - p) * (2 / 3 - u) * 6 : p;
    return Math.round(value * 255);
  };
  return [channel(hue + 1 / 3), channel(hue), channel(hue - 1 / 3)];
}

function mix(from: Rgb, to: Rgb, amount: number): Rgb {
  return [
    Math.round(from[0] + (to[0] - from[0]) * amount),
    Math.round(from[1] + (to[1] - from[1]) * amount),
    Math.round(from[2] + (to[2] - from[2]) * amount),
  ];
}

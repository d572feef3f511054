import { amazonImage } from "./amazon-image";
import type { FamilyName, ResolvedModel } from "./catalog";
import type { ModelFamily, ModelLimits } from "./family";
import { stabilityImage } from "./stability-image";

/** Every family module, by the name catalog rows give. */
const FAMILIES: Readonly<Record<FamilyName, ModelFamily>> = {
  "stability-image": stabilityImage,
  "amazon-image": amazonImage,
};

export function familyOf(model: ResolvedModel): ModelFamily {
  return FAMILIES[model.model.family];
}

export function limitsOf(model: ResolvedModel): ModelLimits {
  return familyOf(model).limits(model.model);
}

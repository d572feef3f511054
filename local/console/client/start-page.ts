/// <reference lib="dom" />
// Start a job as a client would: the form's fields go to the local API's POST /generate-image as they are typed, so
// its 400 messages (what was wrong, what is accepted) are the ones shown.
import type { ConsoleModel } from "../api-types";
import { postJson } from "./api";
import { h, replaceChildren } from "./dom";
import type { View, ViewContext } from "./main";

interface StartAnswer {
  status: number;
  body: { jobId?: string; message?: string };
}

export function startView(context: ViewContext): View {
  const { models, defaultModelId } = context.config;
  const field = (id: string, label: string, control: HTMLElement, hint?: string) =>
    h(
      "div",
      { class: "field" },
      h("label", { for: id }, label),
      hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : "",
      control,
    );
  const prompt = h("textarea", { id: "prompt", name: "prompt", rows: 3 });
  const negativePrompt = h("textarea", { id: "negativePrompt", name: "negativePrompt", rows: 2 });
  const model = h(
    "select",
    { id: "model", name: "model" },
    models.map((entry) =>
      h(
        "option",
        { value: entry.id, selected: entry.id === defaultModelId },
        `${entry.name} (${entry.id})${entry.id === defaultModelId ? ", the default" : ""}`,
      ),
    ),
  );
  const aspectRatio = h("select", { id: "aspectRatio", name: "aspectRatio" });
  const width = h("input", {
    id: "width",
    name: "width",
    inputmode: "numeric",
    autocomplete: "off",
    "aria-describedby": "width-hint",
  });
  const height = h("input", { id: "height", name: "height", inputmode: "numeric", autocomplete: "off" });
  const quality = h("select", { id: "quality", name: "quality" });
  const seed = h("input", {
    id: "seed",
    name: "seed",
    inputmode: "numeric",
    autocomplete: "off",
    "aria-describedby": "seed-hint",
  });
  const outputFormat = h("select", { id: "outputFormat", name: "outputFormat" });
  const result = h("div", { class: "form-result", role: "alert" });
  const submit = h("button", { type: "submit" }, "Start job");

  const fillModelChoices = () => {
    const chosen: ConsoleModel | undefined = models.find((entry) => entry.id === model.value);
    replaceChildren(
      aspectRatio,
      h("option", { value: "" }, "The model's default"),
      (chosen?.aspectRatios ?? []).map((ratio) => h("option", { value: ratio }, ratio)),
    );
    replaceChildren(
      quality,
      h("option", { value: "" }, chosen?.qualities.length ? "The model's default" : "Not offered by this model"),
      (chosen?.qualities ?? []).map((value) => h("option", { value }, value)),
    );
    replaceChildren(
      outputFormat,
      h("option", { value: "" }, "The default (png)"),
      (chosen?.outputFormats ?? ["png"]).map((format) => h("option", { value: format }, format)),
    );
  };
  model.addEventListener("change", fillModelChoices);
  fillModelChoices();

  const onSubmit = async (event: Event) => {
    event.preventDefault();
    const fields: Record<string, unknown> = {};
    const put = (name: string, value: string, numeric = false) => {
      if (value.trim() === "") return;
      // A number when it is one; anything else is sent as typed, for the API to say what it accepts.
      fields[name] = numeric && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
    };
    put("prompt", prompt.value);
    put("negativePrompt", negativePrompt.value);
    put("model", model.value);
    put("aspectRatio", aspectRatio.value);
    put("width", width.value, true);
    put("height", height.value, true);
    put("quality", quality.value);
    put("seed", seed.value, true);
    put("outputFormat", outputFormat.value);
    if (fields.prompt === undefined) fields.prompt = "";
    submit.disabled = true;
    replaceChildren(result);
    try {
      const answer = await postJson<StartAnswer>("/api/jobs", fields);
      if (answer.status === 202 && answer.body.jobId) {
        context.navigate(`/executions/${encodeURIComponent(answer.body.jobId)}`);
        return;
      }
      replaceChildren(
        result,
        h("h2", {}, `The API answered ${answer.status}`),
        h("p", { class: "form-result__message" }, answer.body.message ?? JSON.stringify(answer.body)),
      );
    } catch (error) {
      replaceChildren(result, h("p", { class: "form-result__message" }, `Could not start the job: ${String(error)}`));
    } finally {
      submit.disabled = false;
    }
  };

  return {
    title: "Start a job",
    nav: "start",
    mount(main) {
      replaceChildren(
        main,
        h("h1", {}, "Start a job"),
        h(
          "p",
          {},
          "Sent to the local API's POST /generate-image, as a client sends it: the API checks every field and says what it accepts. Empty fields are left out.",
        ),
        h(
          "form",
          { class: "start-form", novalidate: true, onsubmit: (event: Event) => void onSubmit(event) },
          field("prompt", "Prompt", prompt),
          field("negativePrompt", "Negative prompt (optional)", negativePrompt),
          field("model", "Model", model),
          field("aspectRatio", "Aspect ratio", aspectRatio),
          h(
            "fieldset",
            { class: "pixels" },
            h("legend", {}, "Pixel size (only models that take one)"),
            field("width", "Width", width, "Pixels; leave empty for the aspect ratio's size."),
            field("height", "Height", height),
          ),
          field("quality", "Quality", quality),
          field("seed", "Seed (optional)", seed, "A whole number; empty: derived from the jobId."),
          field("outputFormat", "Output format", outputFormat),
          submit,
        ),
        result,
      );
    },
  };
}

/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// Builds the page from elements, never from HTML strings: prompts, causes and outputs are user text.

export type Child = Node | string | number | false | null | undefined | readonly Child[];
type AttributeValue = string | number | boolean | undefined | null | ((event: Event) => void);

/** `h("a", { href: "/" }, "Executions")`: attributes (`on<event>` adds a listener), then children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Readonly<Record<string, AttributeValue>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === "function") element.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) element.setAttribute(name, "");
    else if (value !== false && value !== undefined && value !== null) element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === false || child === null || child === undefined) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A status as a word in a coloured badge (the colour is never the only signal). */
export function statusBadge(status: string): HTMLSpanElement {
  return h("span", { class: `badge badge--${status.toLowerCase().replace(/_/g, "-")}` }, status);
}

/** JSON text pretty-printed when it parses, else as it is. */
export function prettyJson(text: string | undefined): string {
  if (text === undefined) return "";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** Text only screen readers read. */
export function visuallyHidden(text: string): HTMLSpanElement {
  return h("span", { class: "visually-hidden" }, text);
}

/**
 * A tiny DOM builder, so the panels read as the markup they produce.
 */
type Child = Node | string | number | null | undefined | false;

export interface ElementProps {
  class?: string;
  dataset?: Record<string, string>;
  /** Attributes set with setAttribute (aria-*, role, for, ...). */
  attrs?: Record<string, string>;
  /** Event listeners by event name. */
  on?: Record<string, (event: Event) => void>;
  [property: string]: unknown;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: ElementProps = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  const { class: className, dataset, attrs, on, ...properties } = props;
  if (className) node.className = className;
  Object.assign(node.dataset, dataset ?? {});
  for (const [k, v] of Object.entries(attrs ?? {})) node.setAttribute(k, v);
  for (const [k, v] of Object.entries(on ?? {})) node.addEventListener(k, v);
  Object.assign(node, properties);
  node.append(...children.filter((c): c is Node | string | number => c !== null && c !== undefined && c !== false).map((c) => (typeof c === 'number' ? String(c) : c)));
  return node;
}

/** The element with this id, or an error naming it (index.html and the code disagree). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node as T;
}

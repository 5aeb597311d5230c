// Small pieces shared by the views.

import { ApiError } from "./api";
import { h, type Child } from "./dom";
import { typeIcon, typeFamily } from "./icons";
import type { AssetSummary, TagRef } from "./types";

export function errorBox(error: unknown, what = "Something went wrong"): HTMLElement {
  if (error instanceof ApiError) {
    return h(
      "div",
      { class: "error", role: "alert", "data-status": error.status },
      h("strong", null, `${what}: ${error.title}`),
      h("p", null, error.detail),
      error.requestId ? h("p", { class: "muted small" }, `request id ${error.requestId}`) : null,
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return h("div", { class: "error", role: "alert" }, h("strong", null, what), h("p", null, message));
}

export function loading(text = "Loading…"): HTMLElement {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spinner" }), text);
}

/** A tag chip; PII-like categories stand out. */
export function tagChip(tag: TagRef): HTMLElement {
  const sensitive = /pii|sensitive|confidential|gdpr|personal/i.test(`${tag.category ?? ""} ${tag.name}`);
  return h(
    "span",
    { class: `tag${sensitive ? " sensitive" : ""}`, title: tag.category ? `${tag.category}: ${tag.name}` : tag.name, "data-tag": tag.name },
    tag.category && tag.category.toLowerCase() !== tag.name.toLowerCase() ? h("span", { class: "tag-category" }, tag.category) : null,
    tag.name,
  );
}

export function typeBadge(type: string): HTMLElement {
  return h("span", { class: `type-badge family-${typeFamily(type)}` }, typeIcon(type, 14), type.replace("_", " "));
}

export function assetLink(asset: Pick<AssetSummary, "id" | "name" | "type">, extra?: Child): HTMLElement {
  return h(
    "a",
    { href: `#/asset/${asset.id}`, class: "asset-link", "data-asset-id": asset.id },
    typeIcon(asset.type, 14),
    asset.name,
    extra ?? null,
  );
}

export function owners(list: string[]): Child {
  return list.length ? list.join(", ") : h("span", { class: "muted" }, "no owner");
}

export function when(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function section(title: string, ...children: Child[]): HTMLElement {
  return h("section", { class: "card" }, h("h2", null, title), ...children);
}

// Choosing an asset (and optionally one of its columns) by typing: suggestions come from the
// full-text search, or from name prefixes when the server runs without search.

import { api } from "./api";
import { debounce, h, replace } from "./dom";
import { typeIcon } from "./icons";
import type { AssetFields, AssetSummary, Page, SearchOut, TraversalOut } from "./types";

export interface Picked {
  asset: AssetSummary;
  fieldId: number | null;
}

async function suggest(text: string, signal: AbortSignal): Promise<AssetSummary[]> {
  try {
    const out = await api<SearchOut>("search", { signal, query: { q: text, mode: "fulltext", limit: 8 } });
    if (out.hits.length) return out.hits.map((hit) => hit.asset);
  } catch (error) {
    if (signal.aborted) throw error;
  }
  const page = await api<Page<AssetSummary>>("assets", { signal, query: { name_prefix: text, limit: 8 } });
  return page.items;
}

/** The node a "asset:12" / "field:64" reference names, with its asset. */
export async function resolveRef(ref: string | null, signal: AbortSignal): Promise<Picked | null> {
  const match = /^(asset|field):(\d+)$/.exec(ref ?? "");
  if (!match) return null;
  const key = match[1] === "asset" ? "asset_id" : "field_id";
  const out = await api<TraversalOut>("lineage/upstream", { signal, query: { [key]: Number(match[2]), depth: 0 } });
  return { asset: out.start.asset, fieldId: out.start.field ? out.start.field.id : null };
}

export function picker(name: string, label: string, initial: Picked | null, signal: AbortSignal, onChange: (p: Picked | null) => void, withColumns = true): HTMLElement {
  let picked = initial;
  let options: AssetSummary[] = [];
  let active = -1;
  const input = h("input", {
    type: "text",
    id: `${name}-asset`,
    name: `${name}-asset`,
    role: "combobox",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": `${name}-options`,
    autocomplete: "off",
    placeholder: "type an asset name…",
    value: initial ? initial.asset.qualified_name : "",
  });
  const list = h("ul", { id: `${name}-options`, role: "listbox", class: "options", hidden: true });
  const columns = h("select", { name: `${name}-column`, "data-testid": `${name}-column`, disabled: true, "aria-label": `${label} column` });

  const close = (): void => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
  };
  const choose = async (asset: AssetSummary, fieldId: number | null = null): Promise<void> => {
    picked = { asset, fieldId };
    input.value = asset.qualified_name;
    close();
    onChange(picked);
    await loadColumns(asset, fieldId);
  };
  const show = (): void => {
    replace(list, 
      ...options.map((asset, i) =>
        h(
          "li",
          {
            role: "option",
            id: `${name}-option-${i}`,
            "aria-selected": i === active ? "true" : "false",
            "data-asset-id": asset.id,
            onmousedown: (ev: MouseEvent) => {
              ev.preventDefault();
              void choose(asset);
            },
          },
          typeIcon(asset.type, 14),
          h("span", null, asset.name),
          h("span", { class: "muted small" }, asset.qualified_name),
        ),
      ),
    );
    list.hidden = options.length === 0;
    input.setAttribute("aria-expanded", String(!list.hidden));
    if (active >= 0) input.setAttribute("aria-activedescendant", `${name}-option-${active}`);
    else input.removeAttribute("aria-activedescendant");
  };
  const lookup = debounce(async (text: string) => {
    try {
      options = text.length ? await suggest(text, signal) : [];
    } catch {
      options = [];
    }
    active = options.length ? 0 : -1;
    show();
  }, 200);
  input.addEventListener("input", () => {
    picked = null;
    onChange(null);
    lookup(input.value.trim());
  });
  input.addEventListener("keydown", (ev) => {
    if (list.hidden) return;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      active = (active + (ev.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
      show();
    } else if (ev.key === "Enter" && active >= 0) {
      ev.preventDefault();
      void choose(options[active]);
    } else if (ev.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));

  async function loadColumns(asset: AssetSummary, fieldId: number | null): Promise<void> {
    if (!withColumns) return;
    const fields = await api<AssetFields>(`assets/${asset.id}/fields`, { signal });
    replace(columns, 
      h("option", { value: "" }, "whole asset"),
      ...fields.fields.map((f) => h("option", { value: String(f.id), selected: f.id === fieldId }, `${f.name} ${f.data_type}`)),
    );
    columns.disabled = fields.fields.length === 0;
  }
  columns.addEventListener("change", () => {
    if (!picked) return;
    picked = { asset: picked.asset, fieldId: columns.value ? Number(columns.value) : null };
    onChange(picked);
  });
  if (initial) void loadColumns(initial.asset, initial.fieldId);

  return h(
    "div",
    { class: "picker", "data-testid": `${name}-picker` },
    h("label", { for: `${name}-asset` }, label),
    h("div", { class: "combo" }, input, list),
    withColumns ? columns : null,
  );
}

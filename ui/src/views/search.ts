// Search: one box (hybrid by default, with a mode switch), facet filters with counts, results
// with type, qualified name, highlighted text and tags. Keyboard: "/" focuses the box, arrows
// walk the results, Enter opens one, Escape goes back to the box.

import { api } from "../api";
import { assetLink, errorBox, loading, tagChip, typeBadge } from "../components";
import { add, debounce, h, replace, type Child } from "../dom";
import type { View } from "../main";
import type { Asset, Page, SearchHighlight, SearchHit, SearchMode, SearchOut } from "../types";

const MODES: [SearchMode, string, string][] = [
  ["hybrid", "Hybrid", "words and meaning, fused"],
  ["fulltext", "Full-text", "names, columns, descriptions, tags"],
  ["semantic", "Semantic", "by meaning, in plain language"],
];
const FACETS: [string, string][] = [
  ["type", "Type"],
  ["tag", "Tag"],
  ["tag_category", "Tag category"],
  ["owner", "Owner"],
];

interface SearchState {
  q: string;
  mode: SearchMode;
  filters: Record<string, string[]>;
}

function stateFrom(query: URLSearchParams): SearchState {
  const mode = query.get("mode");
  return {
    q: query.get("q") ?? "",
    mode: mode === "fulltext" || mode === "semantic" ? mode : "hybrid",
    filters: Object.fromEntries(FACETS.map(([facet]) => [facet, query.getAll(facet)])),
  };
}

function hashOf(state: SearchState): string {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.mode !== "hybrid") params.set("mode", state.mode);
  for (const [facet, values] of Object.entries(state.filters)) for (const v of values) params.append(facet, v);
  const q = params.toString();
  return q ? `#/search?${q}` : "#/search";
}

/** A fragment with its matched [start, end) ranges (code point offsets) as <mark>s. */
function marked(highlight: SearchHighlight): Child[] {
  const chars = Array.from(highlight.fragment);
  const parts: Child[] = [];
  let at = 0;
  for (const [start, end] of [...highlight.ranges].sort((a, b) => a[0] - b[0])) {
    if (start < at || end <= start) continue;
    if (start > at) parts.push(chars.slice(at, start).join(""));
    parts.push(h("mark", null, chars.slice(start, end).join("")));
    at = end;
  }
  if (at < chars.length) parts.push(chars.slice(at).join(""));
  return parts;
}

function hitCard(hit: SearchHit, index: number): HTMLElement {
  const { asset } = hit;
  const description = hit.highlights.find((x) => x.field === "description");
  const columns = hit.highlights.find((x) => x.field === "columns");
  return h(
    "li",
    { class: "hit", "data-asset-id": asset.id, "data-index": index },
    h(
      "a",
      { class: "hit-link", href: `#/asset/${asset.id}`, "data-testid": "hit" },
      h("div", { class: "hit-head" }, typeBadge(asset.type), h("span", { class: "hit-name" }, asset.name)),
      h("div", { class: "qualified-name" }, asset.qualified_name),
      h(
        "p",
        { class: "hit-description" },
        description ? marked(description) : asset.description ? truncate(asset.description, 240) : h("span", { class: "muted" }, "No description."),
      ),
      columns ? h("p", { class: "hit-columns muted small" }, "columns: ", marked(columns)) : null,
    ),
    h(
      "div",
      { class: "hit-foot" },
      asset.tags.map(tagChip),
      asset.owners.length ? h("span", { class: "muted small" }, `owner ${asset.owners.join(", ")}`) : null,
      h("span", { class: "matched muted small" }, hit.matched_by.join(" + ")),
    ),
  );
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export const searchView: View = async (root, route, ctx) => {
  ctx.setTitle("Search");
  const state = stateFrom(route.query);
  const box = h("input", {
    id: "search-box",
    type: "search",
    name: "q",
    value: state.q,
    placeholder: "Search assets: a table name, a column, or what you mean (“customer email addresses”)",
    autocomplete: "off",
    "aria-label": "Search assets",
    "aria-controls": "results",
  });
  const modeSwitch = h(
    "div",
    { class: "segmented", role: "radiogroup", "aria-label": "Search mode" },
    MODES.map(([mode, label, help]) =>
      h(
        "label",
        { title: help },
        h("input", {
          type: "radio",
          name: "mode",
          value: mode,
          checked: state.mode === mode,
          "data-testid": `mode-${mode}`,
          onchange: () => {
            state.mode = mode;
            submit();
          },
        }),
        h("span", null, label),
      ),
    ),
  );
  const facetsEl = h("aside", { class: "facets card", "aria-label": "Filters" });
  const resultsEl = h("div", { class: "results", id: "results", "aria-live": "polite" });
  const form = h(
    "form",
    {
      class: "search-form card",
      role: "search",
      onsubmit: (ev: SubmitEvent) => {
        ev.preventDefault();
        submit();
      },
    },
    box,
    modeSwitch,
  );
  add(root, form, h("div", { class: "search-layout" }, facetsEl, resultsEl));

  function submit(): void {
    state.q = box.value.trim();
    const target = hashOf(state);
    if (target !== location.hash) location.hash = target; // re-renders this view from the URL
    else void run();
  }

  const typed = debounce(() => {
    if (box.value.trim() !== state.q && box.value.trim().length >= 2) submit();
  }, 400);
  box.addEventListener("input", typed);

  function results(): HTMLElement[] {
    return [...resultsEl.querySelectorAll<HTMLElement>(".hit-link")];
  }

  box.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown") {
      ev.preventDefault();
      results()[0]?.focus();
    }
  });
  resultsEl.addEventListener("keydown", (ev) => {
    const list = results();
    const at = list.indexOf(document.activeElement as HTMLElement);
    if (at < 0) return;
    if (ev.key === "ArrowDown") {
      ev.preventDefault();
      list[Math.min(list.length - 1, at + 1)].focus();
    } else if (ev.key === "ArrowUp") {
      ev.preventDefault();
      if (at === 0) box.focus();
      else list[at - 1].focus();
    } else if (ev.key === "Escape") {
      box.focus();
    }
  });

  function renderFacets(out: SearchOut): void {
    replace(facetsEl, h("h2", null, "Filters"));
    for (const [facet, label] of FACETS) {
      const counts = out.facets[facet] ?? [];
      const chosen = state.filters[facet] ?? [];
      const values = [...counts];
      for (const v of chosen) if (!values.some((c) => c.value === v)) values.push({ value: v, count: 0 });
      if (values.length === 0) continue;
      facetsEl.appendChild(
        h(
          "fieldset",
          { class: "facet", "data-facet": facet },
          h("legend", null, label),
          values.map((c) =>
            h(
              "label",
              { class: "facet-value" },
              h("input", {
                type: "checkbox",
                value: c.value,
                checked: chosen.includes(c.value),
                "data-testid": `facet-${facet}-${c.value}`,
                onchange: (ev: Event) => {
                  const on = (ev.target as HTMLInputElement).checked;
                  state.filters[facet] = on ? [...chosen, c.value] : chosen.filter((v) => v !== c.value);
                  submit();
                },
              }),
              h("span", { class: "facet-name" }, facet === "type" ? c.value.replace("_", " ") : c.value),
              h("span", { class: "count" }, String(c.count)),
            ),
          ),
        ),
      );
    }
    if (facetsEl.childElementCount === 1) facetsEl.appendChild(h("p", { class: "muted small" }, "No filters for these results."));
  }

  async function run(): Promise<void> {
    // Tests and tools read data-state / data-key to know the results match the URL.
    resultsEl.dataset.state = "loading";
    try {
      if (state.q) await find();
      else await browse();
    } finally {
      resultsEl.dataset.state = "ready";
      resultsEl.dataset.key = hashOf(state);
    }
  }

  async function find(): Promise<void> {
    replace(resultsEl, loading("Searching…"));
    const query = { q: state.q, mode: state.mode, limit: 20, ...state.filters };
    let out: SearchOut;
    try {
      out = await api<SearchOut>("search", { signal: ctx.signal, query });
    } catch (error) {
      if (ctx.signal.aborted) return;
      replace(resultsEl, errorBox(error, "Search failed"));
      return;
    }
    renderFacets(out);
    const list = h("ol", { class: "hits", "data-testid": "hits" }, out.hits.map(hitCard));
    const summary = h(
      "p",
      { class: "muted small", "data-testid": "search-summary" },
      out.hits.length ? `${out.total} match${out.total === 1 ? "" : "es"} for “${out.query}” (${out.mode})` : `Nothing matches “${out.query}”. Try other words, another mode, or fewer filters.`,
    );
    replace(resultsEl, summary, list);
    let cursor = out.next_cursor;
    if (cursor) {
      const more: HTMLButtonElement = h(
        "button",
        {
          type: "button",
          class: "more",
          onclick: async () => {
            more.disabled = true;
            try {
              const page = await api<SearchOut>("search", { signal: ctx.signal, query: { ...query, cursor } });
              const start = list.childElementCount;
              page.hits.forEach((hit, i) => list.appendChild(hitCard(hit, start + i)));
              cursor = page.next_cursor;
              if (!cursor) more.remove();
            } catch (error) {
              more.replaceWith(errorBox(error, "More results could not be loaded"));
            } finally {
              more.disabled = false;
            }
          },
        },
        "More results",
      );
      resultsEl.appendChild(more);
    }
  }

  /** With no query: the catalog's assets, newest first, so the page is never empty. */
  async function browse(): Promise<void> {
    replace(facetsEl, h("h2", null, "Filters"), h("p", { class: "muted small" }, "Type a query to filter by type, tag or owner."));
    replace(resultsEl, loading());
    try {
      const page = await api<Page<Asset>>("assets", { signal: ctx.signal, query: { limit: 50 } });
      replace(resultsEl, 
        h("h2", null, "Assets in this catalog"),
        page.items.length
          ? h(
              "ul",
              { class: "browse" },
              page.items.map((a) => h("li", null, assetLink(a), h("span", { class: "qualified-name small" }, a.qualified_name))),
            )
          : h("p", { class: "muted" }, "The catalog is empty: ingest OpenLineage events, a dbt manifest or SQL to fill it."),
      );
    } catch (error) {
      if (!ctx.signal.aborted) replace(resultsEl, errorBox(error, "The catalog could not be listed"));
    }
  }

  const onSlash = (ev: KeyboardEvent): void => {
    const target = ev.target as HTMLElement;
    if (ev.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) {
      ev.preventDefault();
      box.focus();
      box.select();
    }
  };
  window.addEventListener("keydown", onSlash);
  box.focus();
  await run();
  return () => window.removeEventListener("keydown", onSlash);
};

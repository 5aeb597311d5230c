// The lineage graph around one asset: upstream left, downstream right, per-side depth, expand and
// collapse, columns with column-to-column edges, pan / zoom / fit.

import { api } from "../api";
import { errorBox, owners, tagChip, typeBadge } from "../components";
import { add, h, replace } from "../dom";
import { MergedLineage } from "../graph/merge";
import { GraphCanvas, type Side } from "../graph/render";
import type { View } from "../main";
import { replaceQuery } from "../router";
import type { GraphViewOut, ViewNodeOut } from "../types";

type Depth = number | "all";

const DEPTHS: Depth[] = [0, 1, 2, 3, 4, 5, 6, 8, 10, "all"];
const CAPS = [50, 100, 200, 500, 1000, 2000];

interface Query {
  center: string;
  up: Depth;
  down: Depth;
}

function parseDepth(raw: string | null, fallback: Depth): Depth {
  if (raw === "all") return "all";
  const n = Number(raw);
  return raw !== null && Number.isInteger(n) && n >= 0 ? n : fallback;
}

export const lineageView: View = async (root, route, ctx) => {
  const id = Number(route.path[1]);
  if (!Number.isInteger(id) || id < 1) {
    root.appendChild(errorBox(new Error(`"${route.path[1] ?? ""}" is not an asset id`), "No such asset"));
    return;
  }
  const center = `asset:${id}`;
  const settings = {
    up: parseDepth(route.query.get("up"), 2),
    down: parseDepth(route.query.get("down"), 2),
    cols: route.query.get("cols") === "1",
    cap: CAPS.includes(Number(route.query.get("cap"))) ? Number(route.query.get("cap")) : 200,
  };
  const merged = new MergedLineage(center);
  let expansions: Query[] = [];
  const cache = new Map<string, Promise<GraphViewOut>>();
  let selected: string | null = null;
  let renders = 0;

  const stage = h("div", { class: "graph-stage", "data-state": "loading" });
  const panel = h("aside", { class: "graph-panel card", "aria-live": "polite" });
  const notices = h("div", { class: "graph-notices" });
  const stats = h("span", { class: "muted small", "data-testid": "graph-stats" });
  const title = h("h1", { class: "graph-title" }, "Lineage");

  const select = (label: string, name: string, values: (number | string)[], value: number | string, onchange: (v: string) => void): HTMLElement =>
    h(
      "label",
      { class: "control" },
      label,
      h(
        "select",
        { name, "data-testid": name, onchange: (ev: Event) => onchange((ev.target as HTMLSelectElement).value) },
        values.map((v) => h("option", { value: String(v), selected: String(v) === String(value) }, String(v))),
      ),
    );
  const columnsToggle = h("input", {
    type: "checkbox",
    name: "columns",
    "data-testid": "columns-toggle",
    checked: settings.cols,
    onchange: (ev: Event) => {
      settings.cols = (ev.target as HTMLInputElement).checked;
      void refresh(false);
    },
  });
  const toolbar = h(
    "div",
    { class: "toolbar card" },
    title,
    select("Upstream depth", "upstream-depth", DEPTHS, settings.up, (v) => {
      settings.up = parseDepth(v, 2);
      void refresh(false);
    }),
    select("Downstream depth", "downstream-depth", DEPTHS, settings.down, (v) => {
      settings.down = parseDepth(v, 2);
      void refresh(false);
    }),
    select("Node cap", "node-cap", CAPS, settings.cap, (v) => {
      settings.cap = Number(v);
      void refresh(false);
    }),
    h("label", { class: "control toggle" }, columnsToggle, "Columns"),
    h("div", { class: "spacer" }),
    h("button", { type: "button", title: "Zoom in (+)", "aria-label": "zoom in", "data-testid": "zoom-in", onclick: () => canvas.zoomBy(1.25) }, "+"),
    h("button", { type: "button", title: "Zoom out (-)", "aria-label": "zoom out", "data-testid": "zoom-out", onclick: () => canvas.zoomBy(0.8) }, "−"),
    h("button", { type: "button", title: "Fit the graph (F)", "data-testid": "fit", onclick: () => canvas.fit() }, "Fit"),
    h(
      "button",
      {
        type: "button",
        title: "Forget expansions and collapses",
        "data-testid": "reset",
        onclick: () => {
          expansions = [];
          merged.collapsed.clear();
          void refresh(false);
        },
      },
      "Reset",
    ),
    stats,
  );
  root.classList.add("wide");
  add(root, toolbar, notices, h("div", { class: "graph-layout" }, stage, panel));

  const canvas = new GraphCanvas(stage, {
    onNodeClick: (key) => {
      selected = key;
      canvas.select(key);
      showPanel();
      const node = currentModel().nodes.find((n) => n.key === key);
      if (node && (node.hiddenUp > 0 || node.hiddenDown > 0)) void expand(key, null);
    },
    onExpand: (key, side) => void expand(key, side),
    onCollapse: (key, side) => {
      merged.collapse(key, side);
      draw(true, key);
    },
    onColumnSelect: (key) => {
      selected = key ?? selected;
      showPanel();
    },
  });

  function viewKey(q: Query, cols: boolean): string {
    return `${q.center}|${q.up}|${q.down}|${settings.cap}|${cols}`;
  }

  function fetchView(q: Query): Promise<GraphViewOut> {
    const key = viewKey(q, settings.cols);
    let pending = cache.get(key);
    if (!pending) {
      const [kind, raw] = q.center.split(":");
      pending = api<GraphViewOut>("lineage/graph", {
        signal: ctx.signal,
        query: {
          [kind === "field" ? "field_id" : "asset_id"]: Number(raw),
          upstream_depth: String(q.up),
          downstream_depth: String(q.down),
          node_cap: settings.cap,
          include_fields: settings.cols,
        },
      });
      cache.set(key, pending);
      pending.catch(() => cache.delete(key));
    }
    return pending;
  }

  function currentModel() {
    return merged.model(settings.cols);
  }

  function draw(keepViewport: boolean, anchor?: string): void {
    const model = currentModel();
    canvas.render(model, keepViewport, anchor);
    canvas.select(selected);
    renders += 1;
    stage.dataset.renders = String(renders);
    const columns = model.nodes.reduce((n, node) => n + node.columns.length, 0);
    stats.textContent = `${model.nodes.length} assets · ${model.edges.length} edges${settings.cols ? ` · ${columns} columns · ${model.fieldEdges.length} column edges` : ""}`;
    replace(notices, 
      merged.truncated
        ? h(
            "p",
            { class: "notice", "data-testid": "truncated" },
            `The server capped this view at ${merged.nodeCap} nodes. Nodes with a +N handle have neighbours not shown: click them to expand, or raise the node cap.`,
          )
        : null,
      merged.depthCapped ? h("p", { class: "notice" }, "The depth asked for is above the server's limit and was lowered to it.") : null,
    );
    if (!model.nodes.length) notices.appendChild(h("p", { class: "notice" }, "This asset is not in the lineage graph yet."));
    showPanel();
  }

  async function refresh(keepViewport: boolean, anchor?: string): Promise<void> {
    replaceQuery({ up: settings.up, down: settings.down, cols: settings.cols ? 1 : null, cap: settings.cap === 200 ? null : settings.cap });
    stage.dataset.state = "loading";
    try {
      const base: Query = { center, up: settings.up, down: settings.down };
      const views = await Promise.all([base, ...expansions].map(fetchView));
      merged.reset(views);
      if (!title.dataset.named) {
        const node = merged.nodes.get(center);
        if (node) {
          replace(title, typeBadge(node.asset.type), " ", h("a", { href: `#/asset/${id}` }, node.asset.name));
          title.dataset.named = "1";
          ctx.setTitle(`Lineage of ${node.asset.name}`);
        }
      }
      draw(keepViewport, anchor);
      stage.dataset.state = "ready";
    } catch (error) {
      if (ctx.signal.aborted) return;
      stage.dataset.state = "error";
      replace(notices, errorBox(error, "The lineage could not be loaded"));
    }
  }

  async function expand(key: string, side: Side | null): Promise<void> {
    if (side) merged.uncollapse(key, side);
    else merged.uncollapse(key);
    expansions.push({ center: key, up: side === "downstream" ? 0 : 1, down: side === "upstream" ? 0 : 1 });
    await refresh(true, key);
  }

  function showPanel(): void {
    replace(panel);
    const node: ViewNodeOut | undefined = selected ? merged.nodes.get(selected) : undefined;
    if (!node) {
      add(panel, 
        h("h2", null, "How to read this"),
        h("ul", { class: "help" },
          h("li", null, "Data flows left to right: upstream sources on the left, consumers on the right."),
          h("li", null, "Click a node to select it and show its hidden neighbours; the +N handles expand one side, − folds it away."),
          h("li", null, "Turn on Columns, then hover or click a column to trace its lineage."),
          h("li", null, "Drag to pan, wheel or +/− to zoom, F to fit."),
        ),
      );
      return;
    }
    if (node.kind === "field" && node.field) {
      add(panel, 
        h("h2", null, "Column"),
        h("p", { class: "mono" }, `${node.asset.name}.${node.field.name}`),
        h("p", { class: "muted" }, node.field.data_type || "no type"),
        node.field.description ? h("p", null, node.field.description) : null,
        h("p", { class: "muted small" }, "Highlighted: every column it is derived from and every column derived from it."),
      );
      return;
    }
    const model = currentModel().nodes.find((n) => n.key === selected);
    add(panel, 
      h("div", { class: "asset-title" }, typeBadge(node.asset.type)),
      h("h2", null, node.asset.name),
      h("p", { class: "qualified-name" }, node.asset.qualified_name),
      node.asset.description ? h("p", null, node.asset.description) : null,
      h("dl", { class: "facts" },
        h("dt", null, "Owners"), h("dd", null, owners(node.asset.owners)),
        h("dt", null, "Tags"), h("dd", null, node.asset.tags.length ? node.asset.tags.map(tagChip) : h("span", { class: "muted" }, "none")),
        h("dt", null, "Hidden"), h("dd", null, `${model?.hiddenUp ?? 0} upstream, ${model?.hiddenDown ?? 0} downstream`),
      ),
      h("div", { class: "actions" },
        h("a", { class: "button primary", href: `#/asset/${node.id}` }, "Open asset page"),
        node.id !== id ? h("a", { class: "button", href: `#/lineage/${node.id}?up=${settings.up}&down=${settings.down}${settings.cols ? "&cols=1" : ""}` }, "Centre here") : null,
        h("a", { class: "button", href: `#/impact/${node.id}` }, "Impact"),
        model?.collapsible.includes("upstream") ? h("button", { type: "button", onclick: () => { merged.collapse(`asset:${node.id}`, "upstream"); draw(true, `asset:${node.id}`); } }, "Collapse upstream") : null,
        model?.collapsible.includes("downstream") ? h("button", { type: "button", onclick: () => { merged.collapse(`asset:${node.id}`, "downstream"); draw(true, `asset:${node.id}`); } }, "Collapse downstream") : null,
      ),
    );
  }

  showPanel();
  await refresh(false);
  const onKey = (ev: KeyboardEvent): void => {
    if (ev.key === "Escape" && selected) {
      selected = null;
      canvas.select(null);
      showPanel();
    }
  };
  window.addEventListener("keydown", onKey);
  return () => {
    window.removeEventListener("keydown", onKey);
    canvas.destroy();
  };
};

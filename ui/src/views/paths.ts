// Paths between two assets (or two columns): the shortest one and every other simple path, drawn
// as a graph and listed hop by hop.

import { api } from "../api";
import { errorBox, loading, section } from "../components";
import { add, h, replace } from "../dom";
import { drawnEdge, edgeKey } from "../graph/merge";
import { GraphCanvas, type GEdge, type GNode, type GraphModel } from "../graph/render";
import type { View } from "../main";
import { picker, resolveRef, type Picked } from "../picker";
import { replaceQuery } from "../router";
import type { EdgeOut, FieldSummary, NodeOut, PathsOut } from "../types";
import { nodeId } from "../types";

function ref(p: Picked | null): string | null {
  if (!p) return null;
  return p.fieldId ? `field:${p.fieldId}` : `asset:${p.asset.id}`;
}

export const pathsView: View = async (root, route, ctx) => {
  ctx.setTitle("Paths");
  let from = await resolveRef(route.query.get("from"), ctx.signal).catch(() => null);
  let to = await resolveRef(route.query.get("to"), ctx.signal).catch(() => null);
  const depthInput = h("input", { type: "number", name: "max-depth", min: 1, max: 10, value: Number(route.query.get("max_depth") ?? 10) || 10 });
  const out = h("div", { class: "paths-result" });
  const run = h("button", { type: "submit", class: "primary", "data-testid": "find-paths" }, "Find paths");
  const form = h(
    "form",
    {
      class: "card paths-form",
      onsubmit: (ev: SubmitEvent) => {
        ev.preventDefault();
        void find();
      },
    },
    h("h1", null, "Paths between two assets or columns"),
    h("p", { class: "muted small" }, "How data gets from one to the other, following the flow downstream."),
    h(
      "div",
      { class: "row" },
      picker("from", "From (upstream)", from, ctx.signal, (p) => (from = p)),
      picker("to", "To (downstream)", to, ctx.signal, (p) => (to = p)),
      h("label", { class: "control" }, "Max hops", depthInput),
      run,
    ),
  );
  root.classList.add("wide");
  add(root, form, out);
  let canvas: GraphCanvas | null = null;

  async function find(): Promise<void> {
    canvas?.destroy();
    canvas = null;
    if (!from || !to) {
      replace(out, errorBox(new Error("Pick both ends first: start typing an asset name and choose one."), "Cannot search for paths"));
      return;
    }
    if (Boolean(from.fieldId) !== Boolean(to.fieldId)) {
      replace(out, errorBox(new Error("Paths join two assets or two columns: choose a column at both ends, or at neither."), "Cannot search for paths"));
      return;
    }
    replaceQuery({ from: ref(from), to: ref(to), max_depth: depthInput.value });
    replace(out, loading("Looking for paths…"));
    const side = (p: Picked, prefix: string) => (p.fieldId ? { [`${prefix}_field_id`]: p.fieldId } : { [`${prefix}_asset_id`]: p.asset.id });
    let result: PathsOut;
    try {
      result = await api<PathsOut>("lineage/paths", {
        signal: ctx.signal,
        query: { ...side(from, "from"), ...side(to, "to"), max_depth: depthInput.value, max_paths: 100 },
      });
    } catch (error) {
      if (!ctx.signal.aborted) replace(out, errorBox(error, "Paths could not be found"));
      return;
    }
    show(result);
  }

  function show(result: PathsOut): void {
    const nodes = new Map(result.nodes.map((n) => [nodeId(n), n]));
    const shortestKeys = new Set((result.shortest ?? []).map(edgeKey));
    const label = (key: string): string => {
      const n = nodes.get(key);
      if (!n) return key;
      return n.field ? `${n.asset.name}.${n.field.name}` : n.asset.name;
    };
    const chain = (edges: EdgeOut[], testid: string, index: number | null): HTMLElement => {
      const steps = edges.map((e) => drawnEdge(e));
      const keys = steps.length ? [steps[0].from, ...steps.map((s) => s.to)] : [nodeId(result.source)];
      const items: HTMLElement[] = [];
      keys.forEach((key, i) => {
        if (i > 0) items.push(h("span", { class: "hop", title: steps[i - 1].type }, `→ ${steps[i - 1].type} →`));
        items.push(h("a", { class: "hop-node", href: `#/asset/${nodes.get(key)?.asset.id ?? ""}`, "data-node-id": key }, label(key)));
      });
      return h(
        "li",
        {
          class: "path",
          "data-testid": testid,
          "data-path-index": index,
          tabindex: 0,
          onmouseenter: () => canvas?.highlight(new Set([...keys, ...assetsOf(keys), ...steps.map((s) => s.key)])),
          onmouseleave: () => canvas?.highlight(null),
          onfocus: () => canvas?.highlight(new Set([...keys, ...assetsOf(keys), ...steps.map((s) => s.key)])),
        },
        h("span", { class: "muted small" }, `${edges.length} hop${edges.length === 1 ? "" : "s"}: `),
        items,
      );
    };
    const assetsOf = (keys: string[]): string[] =>
      keys.map((k) => nodes.get(k)).filter((n): n is NodeOut => Boolean(n?.field)).map((n) => `asset:${n.asset.id}`);

    const stage = h("div", { class: "graph-stage small", "data-state": "ready" });
    const others = result.paths.filter((p) => p.map(edgeKey).join() !== (result.shortest ?? []).map(edgeKey).join());
    replace(out, 
      result.shortest === null
        ? h("p", { class: "notice", "data-testid": "no-path" }, `No path leads from ${label(nodeId(result.source))} down to ${label(nodeId(result.target))} within ${result.max_depth} hops.`)
        : section("Shortest path", h("ol", { class: "paths" }, chain(result.shortest, "shortest-path", null))),
      result.shortest !== null ? stage : null,
      result.paths.length
        ? section(
            `All paths (${result.paths.length}${result.truncated ? "+, capped" : ""})`,
            others.length ? h("ol", { class: "paths", "data-testid": "other-paths" }, result.paths.map((p, i) => chain(p, "path", i))) : h("p", { class: "muted" }, "The shortest path is the only one."),
          )
        : null,
      result.capped ? h("p", { class: "notice" }, "The server lowered the hop or path limit to its cap.") : null,
    );
    if (result.shortest === null) return;
    canvas = new GraphCanvas(stage);
    canvas.render(model(result, nodes, shortestKeys), false);
  }

  if (from && to) await find();
  return () => canvas?.destroy();
};

/** The union of the paths as a graph: column paths become their assets' boxes with the columns
 * on a path inside, laid out by the assets the columns join. */
function model(result: PathsOut, nodes: Map<string, NodeOut>, shortest: Set<string>): GraphModel {
  const all = new Map<string, EdgeOut>();
  for (const e of [...(result.shortest ?? []), ...result.paths.flat()]) all.set(edgeKey(e), e);
  const ends = new Set([nodeId(result.source), nodeId(result.target)]);
  const onShortest = new Set<string>();
  for (const e of result.shortest ?? []) for (const n of [e.source, e.target]) onShortest.add(nodeId(n));
  const boxes = new Map<number, GNode>();
  const columns = new Map<number, Map<number, FieldSummary>>();
  const touched = new Set<string>([...ends]);
  for (const e of all.values()) for (const n of [e.source, e.target]) touched.add(nodeId(n));
  for (const key of touched) {
    const n = nodes.get(key);
    if (!n) continue;
    const box = boxes.get(n.asset.id) ?? {
      key: `asset:${n.asset.id}`,
      asset: n.asset,
      columns: [],
      classes: [],
      hiddenUp: 0,
      hiddenDown: 0,
      collapsible: [],
    };
    if (n.field) {
      const cols = columns.get(n.asset.id) ?? new Map<number, FieldSummary>();
      cols.set(n.field.id, n.field);
      columns.set(n.asset.id, cols);
    }
    if (ends.has(key)) box.classes.push("endpoint");
    if (onShortest.has(key)) box.classes.push("on-path");
    boxes.set(n.asset.id, box);
  }
  for (const [assetId, cols] of columns) boxes.get(assetId)!.columns = [...cols.values()].sort((a, b) => a.id - b.id);
  const fieldLevel = result.source.kind === "field";
  const edges: GEdge[] = [];
  const fieldEdges: GEdge[] = [];
  for (const e of all.values()) {
    const drawn = drawnEdge(e, shortest.has(edgeKey(e)) ? ["on-path"] : []);
    if (e.kind === "field_lineage") {
      fieldEdges.push(drawn);
      const a = nodes.get(drawn.from);
      const b = nodes.get(drawn.to);
      if (a && b) edges.push({ key: `layout:${e.id}`, from: `asset:${a.asset.id}`, to: `asset:${b.asset.id}`, type: "", flow: true, classes: [], layoutOnly: true });
    } else edges.push(drawn);
  }
  return { nodes: [...boxes.values()], edges, fieldEdges, showColumns: fieldLevel, center: null };
}

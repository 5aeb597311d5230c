// Client-side graph state for the lineage view: the union of the graph views fetched so far (the
// first one around the centre, one more per expansion), minus what the user collapsed.

import type { EdgeOut, FieldSummary, GraphViewOut, ViewNodeOut } from "../types";
import { nodeId } from "../types";
import type { GEdge, GNode, GraphModel, Side } from "./render";

/** (upstream end, downstream end) when data flows along the edge (DESIGN.md flow semantics). */
export function flowOf(edge: EdgeOut): [string, string] | null {
  const source = nodeId(edge.source);
  const target = nodeId(edge.target);
  if (edge.kind === "field_lineage") return [source, target];
  if (edge.kind !== "relationship") return null;
  if (edge.type === "PRODUCES") return [source, target];
  if (edge.type === "USES" || edge.type === "DEPENDS_ON") return [target, source];
  return null;
}

export function edgeKey(edge: EdgeOut): string {
  return `${edge.kind}:${edge.id}`;
}

/** An edge as drawn: oriented along the flow when it has one. */
export function drawnEdge(edge: EdgeOut, classes: string[] = []): GEdge {
  const flow = flowOf(edge);
  return {
    key: edgeKey(edge),
    from: flow ? flow[0] : nodeId(edge.source),
    to: flow ? flow[1] : nodeId(edge.target),
    type: edge.kind === "field_lineage" ? `column lineage (${edge.type})` : edge.type,
    flow: flow !== null,
    classes,
  };
}

interface Totals {
  up: number;
  down: number;
}

export class MergedLineage {
  readonly nodes = new Map<string, ViewNodeOut>();
  readonly edges = new Map<string, EdgeOut>();
  private readonly totals = new Map<string, Totals>();
  readonly collapsed = new Map<string, Set<Side>>();
  truncated = false;
  depthCapped = false;
  nodeCap = 0;

  constructor(readonly center: string) {}

  /** Rebuild from the views (in fetch order; later answers win for node details). */
  reset(views: GraphViewOut[]): void {
    this.nodes.clear();
    this.edges.clear();
    this.totals.clear();
    this.truncated = views.some((v) => v.truncated);
    this.depthCapped = views.some((v) => v.depth_capped);
    this.nodeCap = views[0]?.node_cap ?? 0;
    for (const view of views) {
      for (const node of view.nodes) this.nodes.set(nodeId(node), node);
      for (const edge of view.edges) this.edges.set(edgeKey(edge), edge);
      // A node's flow degree = its neighbours inside this view + those the view left out.
      const up = new Map<string, Set<string>>();
      const down = new Map<string, Set<string>>();
      for (const edge of view.edges) {
        const flow = flowOf(edge);
        if (!flow) continue;
        addTo(down, flow[0], flow[1]);
        addTo(up, flow[1], flow[0]);
      }
      for (const node of view.nodes) {
        const key = nodeId(node);
        const seen = this.totals.get(key) ?? { up: 0, down: 0 };
        this.totals.set(key, {
          up: Math.max(seen.up, (up.get(key)?.size ?? 0) + node.hidden_upstream),
          down: Math.max(seen.down, (down.get(key)?.size ?? 0) + node.hidden_downstream),
        });
      }
    }
  }

  collapse(key: string, side: Side): void {
    const sides = this.collapsed.get(key) ?? new Set<Side>();
    sides.add(side);
    this.collapsed.set(key, sides);
  }

  uncollapse(key: string, side?: Side): void {
    const sides = this.collapsed.get(key);
    if (!sides) return;
    if (side) sides.delete(side);
    else sides.clear();
    if (sides.size === 0) this.collapsed.delete(key);
  }

  /** The assets shown: reachable from the centre without crossing a collapsed side. */
  private shownAssets(): { shown: Set<string>; up: Map<string, Set<string>>; down: Map<string, Set<string>> } {
    const up = new Map<string, Set<string>>();
    const down = new Map<string, Set<string>>();
    const other = new Map<string, Set<string>>();
    for (const edge of this.edges.values()) {
      if (edge.kind !== "relationship") continue;
      const flow = flowOf(edge);
      if (flow) {
        addTo(down, flow[0], flow[1]);
        addTo(up, flow[1], flow[0]);
      } else {
        addTo(other, nodeId(edge.source), nodeId(edge.target));
        addTo(other, nodeId(edge.target), nodeId(edge.source));
      }
    }
    const shown = new Set<string>();
    if (!this.nodes.has(this.center)) return { shown, up, down };
    const queue = [this.center];
    shown.add(this.center);
    while (queue.length) {
      const at = queue.shift()!;
      const folded = this.collapsed.get(at);
      const next = [
        ...(folded?.has("upstream") ? [] : (up.get(at) ?? [])),
        ...(folded?.has("downstream") ? [] : (down.get(at) ?? [])),
        ...(other.get(at) ?? []),
      ];
      for (const n of next) {
        if (shown.has(n) || !this.nodes.has(n)) continue;
        shown.add(n);
        queue.push(n);
      }
    }
    return { shown, up, down };
  }

  /** What the canvas draws, with per-node counts of neighbours not shown. */
  model(showColumns: boolean, decorate: (key: string) => string[] = () => []): GraphModel {
    const { shown, up, down } = this.shownAssets();
    const columns = new Map<number, FieldSummary[]>();
    if (showColumns) {
      for (const node of this.nodes.values()) {
        if (node.kind !== "field" || !node.field || !shown.has(`asset:${node.field.asset_id}`)) continue;
        const list = columns.get(node.field.asset_id) ?? [];
        list.push(node.field);
        columns.set(node.field.asset_id, list);
      }
      for (const list of columns.values()) list.sort((a, b) => a.id - b.id);
    }
    const nodes: GNode[] = [];
    for (const key of shown) {
      const node = this.nodes.get(key)!;
      const totals = this.totals.get(key) ?? { up: 0, down: 0 };
      const shownUp = [...(up.get(key) ?? [])].filter((n) => shown.has(n)).length;
      const shownDown = [...(down.get(key) ?? [])].filter((n) => shown.has(n)).length;
      const collapsible: Side[] = [];
      if (shownUp > 0) collapsible.push("upstream");
      if (shownDown > 0) collapsible.push("downstream");
      nodes.push({
        key,
        asset: node.asset,
        columns: columns.get(node.id) ?? [],
        classes: [`side-${node.side}`, ...decorate(key)],
        hiddenUp: Math.max(0, totals.up - shownUp),
        hiddenDown: Math.max(0, totals.down - shownDown),
        collapsible,
      });
    }
    const edges: GEdge[] = [];
    const fieldEdges: GEdge[] = [];
    const shownFields = new Set<string>();
    for (const list of columns.values()) for (const f of list) shownFields.add(`field:${f.id}`);
    for (const edge of this.edges.values()) {
      const source = nodeId(edge.source);
      const target = nodeId(edge.target);
      if (edge.kind === "relationship" && shown.has(source) && shown.has(target)) edges.push(drawnEdge(edge, decorate(edgeKey(edge))));
      else if (edge.kind === "field_lineage" && shownFields.has(source) && shownFields.has(target)) fieldEdges.push(drawnEdge(edge, decorate(edgeKey(edge))));
    }
    return { nodes, edges, fieldEdges, showColumns, center: this.center };
  }
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}

// Layered (Sugiyama) layout of the asset boxes with dagre: data flows left to right, so upstream
// lands left of the centre and downstream right of it.

import { graphlib, layout } from "@dagrejs/dagre";

export interface Box {
  key: string;
  width: number;
  height: number;
}

export interface Placed {
  x: number; // top-left corner
  y: number;
  width: number;
  height: number;
}

export interface Layout {
  boxes: Map<string, Placed>;
  width: number;
  height: number;
}

/** ``flows`` are (upstream, downstream) pairs; boxes without any are placed too. Input order is
 * kept stable (sorted keys) so the same graph always gets the same picture. */
export function layeredLayout(boxes: Box[], flows: [string, string][]): Layout {
  const g = new graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir: "LR", ranksep: 110, nodesep: 26, edgesep: 12, marginx: 40, marginy: 40, ranker: "network-simplex" });
  g.setDefaultEdgeLabel(() => ({}));
  const known = new Set<string>();
  for (const box of [...boxes].sort((a, b) => compareKeys(a.key, b.key))) {
    g.setNode(box.key, { width: box.width, height: box.height });
    known.add(box.key);
  }
  for (const [from, to] of flows) {
    if (from !== to && known.has(from) && known.has(to) && !g.hasEdge(from, to)) g.setEdge(from, to, { weight: 1, minlen: 1 });
  }
  layout(g);
  const placed = new Map<string, Placed>();
  for (const box of boxes) {
    const n = g.node(box.key) as { x: number; y: number; width: number; height: number };
    placed.set(box.key, { x: n.x - box.width / 2, y: n.y - box.height / 2, width: box.width, height: box.height });
  }
  const graph = g.graph() as { width?: number; height?: number };
  return { boxes: placed, width: graph.width ?? 0, height: graph.height ?? 0 };
}

function compareKeys(a: string, b: string): number {
  const [ka, ia] = a.split(":");
  const [kb, ib] = b.split(":");
  return ka === kb ? Number(ia) - Number(ib) : ka < kb ? -1 : 1;
}

// The graph canvas: asset boxes (optionally with their columns) and flow edges in SVG, with pan,
// zoom, fit, expand / collapse handles and column-lineage highlighting. Every element that stands
// for a graph node carries data-node-id ("asset:12", "field:64"), every edge data-edge-id.

import { s, clear } from "../dom";
import { typeIcon, typeFamily } from "../icons";
import type { AssetSummary, FieldSummary } from "../types";
import { layeredLayout, type Layout } from "./layout";

export type Side = "upstream" | "downstream";

export interface GNode {
  key: string; // "asset:12"
  asset: AssetSummary;
  columns: FieldSummary[];
  classes: string[];
  hiddenUp: number;
  hiddenDown: number;
  collapsible: Side[]; // sides with shown neighbours that may be folded away
  note?: string; // a short line under the name (severity, distance...)
  columnClasses?: Map<number, string[]>; // extra classes per column id
}

export interface GEdge {
  key: string; // "relationship:7", "field_lineage:11"
  from: string; // upstream end ("asset:1" / "field:3")
  to: string; // downstream end
  type: string;
  flow: boolean; // false: structure (RELATED_TO...), drawn dashed and left out of the layout
  classes: string[];
  layoutOnly?: boolean; // orders the layers (e.g. assets joined by column paths) but is not drawn
}

export interface GraphModel {
  nodes: GNode[];
  edges: GEdge[]; // between assets
  fieldEdges: GEdge[]; // between columns (drawn when columns are shown)
  showColumns: boolean;
  center: string | null;
}

export interface CanvasEvents {
  onNodeClick?(key: string): void;
  onExpand?(key: string, side: Side): void;
  onCollapse?(key: string, side: Side): void;
  onColumnSelect?(key: string | null): void;
}

const WIDTH = 250;
const HEADER = 46;
const ROW = 22;
const PAD = 6;
let canvases = 0;

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function boxHeight(node: GNode, showColumns: boolean): number {
  return showColumns && node.columns.length > 0 ? HEADER + node.columns.length * ROW + PAD : HEADER;
}

export class GraphCanvas {
  readonly svg: SVGSVGElement;
  private readonly viewport: SVGGElement;
  private view = { x: 0, y: 0, k: 1 };
  private layout: Layout | null = null;
  private model: GraphModel | null = null;
  private elements = new Map<string, Element[]>();
  private fieldUp = new Map<string, string[]>();
  private fieldDown = new Map<string, string[]>();
  private pinnedColumn: string | null = null;
  private frame = 0;
  private readonly id = ++canvases;
  private readonly cleanup: (() => void)[] = [];

  constructor(
    private readonly container: HTMLElement,
    private readonly events: CanvasEvents = {},
  ) {
    this.viewport = s("g", { class: "viewport" });
    this.svg = s(
      "svg",
      { class: "graph-canvas", tabindex: 0, role: "application", "aria-label": "Lineage graph: drag to pan, wheel to zoom, F to fit" },
      s(
        "defs",
        null,
        s("marker", { id: `arrow-${this.id}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
          s("path", { d: "M0 0L10 5L0 10z", class: "arrow" })),
        s("marker", { id: `arrow-col-${this.id}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" },
          s("path", { d: "M0 0L10 5L0 10z", class: "arrow-col" })),
      ),
      this.viewport,
    );
    container.appendChild(this.svg);
    this.installPanZoom();
  }

  // --- drawing -----------------------------------------------------------------------------------

  /** Lay out and draw ``model``. With ``keepViewport`` the zoom stays and ``anchor`` (a node
   * the user acted on, else the centre) keeps its place on screen while the rest moves. */
  render(model: GraphModel, keepViewport: boolean, anchor?: string): void {
    this.model = model;
    const started = performance.now();
    const boxes = model.nodes.map((n) => ({ key: n.key, width: WIDTH, height: boxHeight(n, model.showColumns) }));
    const flows = model.edges.filter((e) => e.flow).map((e): [string, string] => [e.from, e.to]);
    const pinned = anchor ?? model.center ?? "";
    const before = this.layout?.boxes.get(pinned);
    this.layout = layeredLayout(boxes, flows);
    const after = this.layout.boxes.get(pinned);
    if (keepViewport && before && after) {
      const { k } = this.view;
      this.view = { k, x: this.view.x + (before.x - after.x) * k, y: this.view.y + (before.y - after.y) * k };
      this.apply();
    }
    clear(this.viewport);
    this.elements.clear();
    this.indexFieldEdges(model);

    const edgeLayer = s("g", { class: "edges" });
    const colEdgeLayer = s("g", { class: "col-edges" });
    const nodeLayer = s("g", { class: "nodes" });
    for (const edge of model.edges) {
      if (edge.layoutOnly) continue;
      const path = this.edgePath(edge.from, edge.to, null, null);
      if (!path) continue;
      const el = s(
        "path",
        {
          d: path,
          class: ["edge", edge.flow ? "flow" : "structure", ...edge.classes].join(" "),
          "data-edge-id": edge.key,
          "data-from": edge.from,
          "data-to": edge.to,
          "marker-end": edge.flow ? `url(#arrow-${this.id})` : null,
        },
        s("title", null, edge.type),
      );
      this.track(edge.key, el);
      edgeLayer.appendChild(el);
    }
    const fieldOwner = new Map<string, { node: GNode; row: number }>();
    if (model.showColumns) {
      for (const node of model.nodes) node.columns.forEach((c, row) => fieldOwner.set(`field:${c.id}`, { node, row }));
      for (const edge of model.fieldEdges) {
        const a = fieldOwner.get(edge.from);
        const b = fieldOwner.get(edge.to);
        if (!a || !b) continue;
        const path = this.edgePath(a.node.key, b.node.key, a.row, b.row);
        if (!path) continue;
        const el = s(
          "path",
          {
            d: path,
            class: ["col-edge", ...edge.classes].join(" "),
            "data-edge-id": edge.key,
            "data-from": edge.from,
            "data-to": edge.to,
            "marker-end": `url(#arrow-col-${this.id})`,
          },
          s("title", null, edge.type),
        );
        this.track(edge.key, el);
        colEdgeLayer.appendChild(el);
      }
    }
    for (const node of model.nodes) nodeLayer.appendChild(this.drawNode(node, model));
    this.viewport.append(edgeLayer, nodeLayer, colEdgeLayer);
    this.svg.dataset.nodeCount = String(model.nodes.length);
    this.svg.dataset.renderMs = String(Math.round(performance.now() - started));
    this.pinnedColumn = null;
    this.highlight(null);
    if (!keepViewport) this.fit();
  }

  private track(key: string, el: Element): void {
    const list = this.elements.get(key);
    if (list) list.push(el);
    else this.elements.set(key, [el]);
  }

  private drawNode(node: GNode, model: GraphModel): SVGGElement {
    const box = this.layout!.boxes.get(node.key)!;
    const family = typeFamily(node.asset.type);
    const g = s("g", {
      class: ["node", `family-${family}`, node.key === model.center ? "center" : "", ...node.classes].filter(Boolean).join(" "),
      transform: `translate(${box.x},${box.y})`,
      "data-node-id": node.key,
      "data-type": node.asset.type,
      tabindex: 0,
      role: "button",
      "aria-label": `${node.asset.type} ${node.asset.name}`,
    });
    g.appendChild(s("title", null, `${node.asset.qualified_name}\n${node.asset.description}`.trim()));
    g.appendChild(s("rect", { class: "box", width: box.width, height: box.height, rx: 8 }));
    g.appendChild(s("rect", { class: "band", width: 5, height: box.height, rx: 2 }));
    g.appendChild(typeIcon(node.asset.type, 18, 14, 9));
    g.appendChild(s("text", { class: "name", x: 40, y: 21 }, truncate(node.asset.name, 27)));
    const sub = node.note ?? `${node.asset.type}${node.asset.tags.length ? ` · ${node.asset.tags.map((t) => t.name).join(", ")}` : ""}`;
    g.appendChild(s("text", { class: "sub", x: 40, y: 37 }, truncate(sub, 32)));
    g.addEventListener("click", (ev) => {
      if ((ev.target as Element).closest(".handle, .col")) return;
      this.events.onNodeClick?.(node.key);
    });
    g.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        this.events.onNodeClick?.(node.key);
      }
    });
    this.track(node.key, g);

    if (model.showColumns && node.columns.length > 0) {
      g.appendChild(s("line", { class: "divider", x1: 0, x2: box.width, y1: HEADER - 2, y2: HEADER - 2 }));
      node.columns.forEach((col, row) => {
        const key = `field:${col.id}`;
        const y = HEADER + row * ROW;
        const colEl = s(
          "g",
          { class: ["col", ...(node.columnClasses?.get(col.id) ?? [])].join(" "), transform: `translate(0,${y})`, "data-node-id": key, tabindex: 0, role: "button", "aria-label": `column ${col.name}` },
          s("rect", { class: "col-bg", x: 4, y: 1, width: box.width - 8, height: ROW - 2, rx: 4 }),
          s("text", { class: "col-name", x: 14, y: 15 }, truncate(col.name, 22)),
          s("text", { class: "col-type", x: box.width - 12, y: 15, "text-anchor": "end" }, truncate(col.data_type, 12)),
          s("title", null, `${col.name} ${col.data_type}${col.description ? `\n${col.description}` : ""}`),
        );
        colEl.addEventListener("mouseenter", () => {
          if (!this.pinnedColumn) this.highlightColumn(key);
        });
        colEl.addEventListener("mouseleave", () => {
          if (!this.pinnedColumn) this.highlight(null);
        });
        const pick = (): void => {
          this.pinnedColumn = this.pinnedColumn === key ? null : key;
          if (this.pinnedColumn) this.highlightColumn(key);
          else this.highlight(null);
          this.events.onColumnSelect?.(this.pinnedColumn);
        };
        colEl.addEventListener("click", pick);
        colEl.addEventListener("keydown", (ev) => {
          if (ev.key === "Enter" || ev.key === " ") {
            ev.preventDefault();
            ev.stopPropagation();
            pick();
          }
        });
        this.track(key, colEl);
        g.appendChild(colEl);
      });
    }

    const handle = (side: Side, kind: "expand" | "collapse", label: string, title: string): SVGGElement => {
      const x = side === "upstream" ? -14 : box.width + 14;
      const el = s(
        "g",
        { class: `handle ${kind} ${side}`, transform: `translate(${x},${HEADER / 2})`, "data-side": side, "data-action": kind, role: "button", tabindex: 0, "aria-label": title },
        s("circle", { r: label.length > 2 ? 14 : 11 }),
        s("text", { "text-anchor": "middle", y: 4 }, label),
        s("title", null, title),
      );
      const act = (ev: Event): void => {
        ev.stopPropagation();
        if (kind === "expand") this.events.onExpand?.(node.key, side);
        else this.events.onCollapse?.(node.key, side);
      };
      el.addEventListener("click", act);
      el.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") act(ev);
      });
      return el;
    };
    for (const side of ["upstream", "downstream"] as const) {
      const hidden = side === "upstream" ? node.hiddenUp : node.hiddenDown;
      if (hidden > 0) g.appendChild(handle(side, "expand", `+${hidden}`, `show ${hidden} hidden ${side} neighbour${hidden === 1 ? "" : "s"}`));
      else if (node.collapsible.includes(side)) g.appendChild(handle(side, "collapse", "−", `collapse ${side}`));
    }
    return g;
  }

  /** A curve from the right edge of ``from`` to the left edge of ``to`` (at a column row when
   * given), bending backwards around the boxes when a cycle points right to left. */
  private edgePath(from: string, to: string, fromRow: number | null, toRow: number | null): string | null {
    const a = this.layout!.boxes.get(from);
    const b = this.layout!.boxes.get(to);
    if (!a || !b) return null;
    const ay = fromRow === null ? a.y + HEADER / 2 : a.y + HEADER + fromRow * ROW + ROW / 2;
    const by = toRow === null ? b.y + HEADER / 2 : b.y + HEADER + toRow * ROW + ROW / 2;
    const x1 = a.x + a.width;
    const x2 = b.x - (toRow === null ? 2 : 1);
    const bend = Math.max(40, Math.abs(x2 - x1) / 2);
    return `M${x1},${ay} C${x1 + bend},${ay} ${x2 - bend},${by} ${x2},${by}`;
  }

  private indexFieldEdges(model: GraphModel): void {
    this.fieldUp.clear();
    this.fieldDown.clear();
    for (const e of model.fieldEdges) {
      push(this.fieldDown, e.from, e.to);
      push(this.fieldUp, e.to, e.from);
    }
  }

  // --- highlighting ------------------------------------------------------------------------------

  /** Mark one node as selected (null: none), without redrawing. */
  select(key: string | null): void {
    for (const el of this.viewport.querySelectorAll(".node.selected")) el.classList.remove("selected");
    if (key) for (const el of this.elements.get(key) ?? []) if (el.classList.contains("node")) el.classList.add("selected");
  }

  /** Dim everything but ``keys`` (node ids and edge ids); null clears. */
  highlight(keys: Set<string> | null): void {
    for (const el of this.viewport.querySelectorAll(".hl, .hl-origin")) el.classList.remove("hl", "hl-origin");
    this.svg.classList.toggle("highlighting", keys !== null);
    if (keys === null) {
      delete this.svg.dataset.highlight;
      return;
    }
    for (const key of keys) for (const el of this.elements.get(key) ?? []) el.classList.add("hl");
  }

  /** A column, every column upstream and downstream of it through the shown column edges, the
   * edges between them, and their boxes. */
  highlightColumn(key: string): void {
    const keys = new Set<string>([key]);
    for (const [adjacent] of [[this.fieldUp], [this.fieldDown]] as const) {
      const queue = [key];
      const seen = new Set(queue);
      while (queue.length) {
        const at = queue.shift()!;
        for (const next of adjacent.get(at) ?? []) {
          if (seen.has(next)) continue;
          seen.add(next);
          keys.add(next);
          queue.push(next);
        }
      }
    }
    for (const e of this.model?.fieldEdges ?? []) if (keys.has(e.from) && keys.has(e.to)) keys.add(e.key);
    for (const node of this.model?.nodes ?? []) if (node.columns.some((c) => keys.has(`field:${c.id}`))) keys.add(node.key);
    this.highlight(keys);
    this.svg.dataset.highlight = key;
    for (const el of this.elements.get(key) ?? []) el.classList.add("hl-origin");
  }

  // --- viewport ----------------------------------------------------------------------------------

  private apply(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const { x, y, k } = this.view;
      this.viewport.setAttribute("transform", `translate(${x},${y}) scale(${k})`);
      this.svg.dataset.zoom = k.toFixed(3);
    });
  }

  fit(): void {
    if (!this.layout) return;
    const rect = this.svg.getBoundingClientRect();
    const w = rect.width || this.container.clientWidth || 800;
    const hgt = rect.height || this.container.clientHeight || 600;
    // The drawn extent (handles and curves included), in the viewport's own coordinates.
    let box = { x: 0, y: 0, width: this.layout.width, height: this.layout.height };
    try {
      const b = this.viewport.getBBox();
      if (b.width > 0 && b.height > 0) box = { x: b.x, y: b.y, width: b.width, height: b.height };
    } catch {
      // Not rendered yet (display: none): the layout's size will do.
    }
    const pad = 24;
    const k = Math.min(1.2, Math.max(0.05, Math.min((w - pad * 2) / box.width, (hgt - pad * 2) / box.height)));
    this.view = { k, x: (w - box.width * k) / 2 - box.x * k, y: (hgt - box.height * k) / 2 - box.y * k };
    this.apply();
  }

  zoomBy(factor: number, cx?: number, cy?: number): void {
    const rect = this.svg.getBoundingClientRect();
    const px = cx ?? rect.width / 2;
    const py = cy ?? rect.height / 2;
    const k = Math.min(4, Math.max(0.05, this.view.k * factor));
    const f = k / this.view.k;
    this.view = { k, x: px - (px - this.view.x) * f, y: py - (py - this.view.y) * f };
    this.apply();
  }

  /** Bring a node to the middle of the canvas at the current zoom. */
  focus(key: string): void {
    const box = this.layout?.boxes.get(key);
    if (!box) return;
    const rect = this.svg.getBoundingClientRect();
    const { k } = this.view;
    this.view = { k, x: rect.width / 2 - (box.x + box.width / 2) * k, y: rect.height / 2 - (box.y + box.height / 2) * k };
    this.apply();
  }

  private installPanZoom(): void {
    const svg = this.svg;
    let drag: { x: number; y: number; vx: number; vy: number; id: number } | null = null;
    const onWheel = (ev: WheelEvent): void => {
      ev.preventDefault();
      const rect = svg.getBoundingClientRect();
      this.zoomBy(Math.exp(-ev.deltaY * 0.0015), ev.clientX - rect.left, ev.clientY - rect.top);
    };
    const onDown = (ev: PointerEvent): void => {
      if (ev.button !== 0 || (ev.target as Element).closest(".node")) return;
      drag = { x: ev.clientX, y: ev.clientY, vx: this.view.x, vy: this.view.y, id: ev.pointerId };
      svg.setPointerCapture(ev.pointerId);
      svg.classList.add("panning");
    };
    const onMove = (ev: PointerEvent): void => {
      if (!drag || ev.pointerId !== drag.id) return;
      this.view = { ...this.view, x: drag.vx + ev.clientX - drag.x, y: drag.vy + ev.clientY - drag.y };
      this.apply();
    };
    const onUp = (ev: PointerEvent): void => {
      if (!drag || ev.pointerId !== drag.id) return;
      const moved = Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y);
      drag = null;
      svg.classList.remove("panning");
      // A click on the empty background (not a drag) drops a pinned column highlight.
      if (moved < 3 && this.pinnedColumn) {
        this.pinnedColumn = null;
        this.highlight(null);
        this.events.onColumnSelect?.(null);
      }
    };
    const onKey = (ev: KeyboardEvent): void => {
      if (ev.target !== svg) return;
      const step = 60;
      const moves: Record<string, [number, number]> = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
      if (ev.key === "+" || ev.key === "=") this.zoomBy(1.25);
      else if (ev.key === "-") this.zoomBy(0.8);
      else if (ev.key === "f" || ev.key === "0") this.fit();
      else if (moves[ev.key]) {
        const [dx, dy] = moves[ev.key];
        this.view = { ...this.view, x: this.view.x + dx, y: this.view.y + dy };
        this.apply();
      } else return;
      ev.preventDefault();
    };
    svg.addEventListener("wheel", onWheel, { passive: false });
    svg.addEventListener("pointerdown", onDown);
    svg.addEventListener("pointermove", onMove);
    svg.addEventListener("pointerup", onUp);
    svg.addEventListener("keydown", onKey);
    const resize = new ResizeObserver(() => this.apply());
    resize.observe(this.container);
    this.cleanup.push(() => resize.disconnect());
  }

  destroy(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.cleanup.forEach((f) => f());
    this.svg.remove();
  }
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

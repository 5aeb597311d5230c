// Asset type icons, drawn on a 16x16 grid with SVG primitives (no icon font, nothing fetched).

import { s } from "./dom";

type Shape = SVGElement;

const stroke = { fill: "none", stroke: "currentColor", "stroke-width": 1.5, "stroke-linejoin": "round", "stroke-linecap": "round" };

function table(): Shape[] {
  return [
    s("rect", { x: 1.5, y: 2.5, width: 13, height: 11, rx: 1.5, ...stroke }),
    s("path", { d: "M1.5 6.5h13M1.5 10h13M6 6.5v7", ...stroke }),
  ];
}

const SHAPES: Record<string, () => Shape[]> = {
  table,
  view: () => [
    s("path", { d: "M1 8s2.5-5 7-5 7 5 7 5-2.5 5-7 5-7-5-7-5z", ...stroke }),
    s("circle", { cx: 8, cy: 8, r: 2, ...stroke }),
  ],
  dataset: () => [
    s("ellipse", { cx: 8, cy: 3.5, rx: 6, ry: 2, ...stroke }),
    s("path", { d: "M2 3.5v9c0 1.1 2.7 2 6 2s6-.9 6-2v-9M2 8c0 1.1 2.7 2 6 2s6-.9 6-2", ...stroke }),
  ],
  file: () => [s("path", { d: "M3.5 1.5h6l3 3v10h-9zM9.5 1.5v3h3", ...stroke })],
  topic: () => [s("path", { d: "M1.5 5h10M1.5 8h13M1.5 11h8M12 3l2.5 2-2.5 2", ...stroke })],
  job: () => [
    s("circle", { cx: 8, cy: 8, r: 2.2, ...stroke }),
    s("path", { d: "M8 1.5v2M8 12.5v2M1.5 8h2M12.5 8h2M3.4 3.4l1.4 1.4M11.2 11.2l1.4 1.4M3.4 12.6l1.4-1.4M11.2 4.8l1.4-1.4", ...stroke }),
  ],
  pipeline: () => [
    s("circle", { cx: 3, cy: 8, r: 1.8, ...stroke }),
    s("circle", { cx: 13, cy: 4, r: 1.8, ...stroke }),
    s("circle", { cx: 13, cy: 12, r: 1.8, ...stroke }),
    s("path", { d: "M4.7 7.3l6.6-2.6M4.7 8.7l6.6 2.6", ...stroke }),
  ],
  dashboard: () => [
    s("rect", { x: 1.5, y: 1.5, width: 5.5, height: 7, rx: 1, ...stroke }),
    s("rect", { x: 9, y: 1.5, width: 5.5, height: 4, rx: 1, ...stroke }),
    s("rect", { x: 1.5, y: 10.5, width: 5.5, height: 4, rx: 1, ...stroke }),
    s("rect", { x: 9, y: 7.5, width: 5.5, height: 7, rx: 1, ...stroke }),
  ],
  chart: () => [s("path", { d: "M2 14.5h12.5M4 12V8M7.5 12V4M11 12V6.5", ...stroke })],
  report: () => [s("path", { d: "M3.5 1.5h9v13h-9zM5.5 5h5M5.5 8h5M5.5 11h3", ...stroke })],
  notebook: () => [s("path", { d: "M4 1.5h9v13H4zM2.5 4h3M2.5 8h3M2.5 12h3", ...stroke })],
  application: () => [
    s("rect", { x: 1.5, y: 2.5, width: 13, height: 11, rx: 1.5, ...stroke }),
    s("path", { d: "M1.5 5.5h13M5 9l-1.5 1.5L5 12M11 9l1.5 1.5L11 12", ...stroke }),
  ],
  ml_model: () => [
    s("circle", { cx: 3, cy: 4, r: 1.5, ...stroke }),
    s("circle", { cx: 3, cy: 12, r: 1.5, ...stroke }),
    s("circle", { cx: 13, cy: 8, r: 1.5, ...stroke }),
    s("circle", { cx: 8, cy: 8, r: 1.5, ...stroke }),
    s("path", { d: "M4.4 4.7l2.3 2.4M4.4 11.3l2.3-2.4M9.5 8h2", ...stroke }),
  ],
  metric: () => [s("path", { d: "M1.5 12.5l4-5 3 3 6-7M10.5 3.5h4v4", ...stroke })],
  semantic_model: () => [
    s("rect", { x: 5.5, y: 1.5, width: 5, height: 4, rx: 1, ...stroke }),
    s("rect", { x: 1.5, y: 10.5, width: 5, height: 4, rx: 1, ...stroke }),
    s("rect", { x: 9.5, y: 10.5, width: 5, height: 4, rx: 1, ...stroke }),
    s("path", { d: "M8 5.5v2.5M4 10.5V8h8v2.5", ...stroke }),
  ],
};

const FAMILY: Record<string, string> = {
  table: "data", view: "data", dataset: "data", file: "data", topic: "data",
  job: "process", pipeline: "process", notebook: "process", application: "process",
  dashboard: "consume", chart: "consume", report: "consume", metric: "consume",
  semantic_model: "consume", ml_model: "consume",
};

/** The family decides the colour: data at rest, processes, and what people consume. */
export function typeFamily(type: string): string {
  return FAMILY[type] ?? "data";
}

/** An icon as a nested <svg> (for SVG graphs: pass x and y) or standalone (for HTML). */
export function typeIcon(type: string, size = 16, x?: number, y?: number): SVGSVGElement {
  const shapes = (SHAPES[type] ?? table)();
  return s(
    "svg",
    {
      class: `type-icon family-${typeFamily(type)}`,
      width: size,
      height: size,
      viewBox: "0 0 16 16",
      x,
      y,
      "aria-hidden": "true",
      "data-type": type,
    },
    shapes,
  );
}

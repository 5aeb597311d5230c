// Impact of a schema change: choose columns to drop, rename or retype (or the whole asset), run
// POST /impact, and see what breaks downstream, highlighted in the graph and listed by severity
// with owners; export the list as CSV or JSON.

import { api } from "../api";
import { assetLink, errorBox, loading, owners, section, tagChip, typeBadge } from "../components";
import { add, download, h, replace } from "../dom";
import { GraphCanvas, type GEdge, type GNode, type GraphModel } from "../graph/render";
import type { View } from "../main";
import type { Asset, AssetFields, FieldSummary, ImpactItem, ImpactReport, PathStep, ProposedChange, SchemaField, Severity } from "../types";

type ColumnAction = "keep" | "drop_column" | "rename_column" | "change_type";
type AssetAction = "columns" | "drop_asset" | "rename_asset";

export const impactView: View = async (root, route, ctx) => {
  const id = Number(route.path[1]);
  if (!Number.isInteger(id) || id < 1) {
    root.appendChild(errorBox(new Error(`"${route.path[1] ?? ""}" is not an asset id`), "No such asset"));
    return;
  }
  root.appendChild(loading());
  const [asset, fields] = await Promise.all([
    api<Asset>(`assets/${id}`, { signal: ctx.signal }),
    api<AssetFields>(`assets/${id}/fields`, { signal: ctx.signal }),
  ]);
  ctx.setTitle(`Impact of changing ${asset.name}`);
  root.classList.add("wide");

  const preset = new Set(route.query.getAll("drop"));
  const rows = fields.fields.map((field) => changeRow(field, preset.has(field.name) ? "drop_column" : "keep"));
  let assetAction: AssetAction = "columns";
  const newQualifiedName = h("input", { type: "text", name: "new-qualified-name", value: asset.qualified_name, disabled: true, "aria-label": "new qualified name" });
  const depth = h("input", { type: "number", name: "max-depth", min: 0, placeholder: "server cap", "aria-label": "maximum depth" });
  const status = h("div", { "aria-live": "polite" });
  const scope = (value: AssetAction, label: string): HTMLElement =>
    h(
      "label",
      { class: "facet-value" },
      h("input", {
        type: "radio",
        name: "scope",
        value,
        checked: value === assetAction,
        "data-testid": `scope-${value}`,
        onchange: () => {
          assetAction = value;
          newQualifiedName.disabled = value !== "rename_asset";
          for (const row of rows) row.setEnabled(value === "columns");
        },
      }),
      label,
    );
  const results = h("div", { class: "impact-results" });
  const form = h(
    "form",
    {
      class: "card",
      onsubmit: (ev: SubmitEvent) => {
        ev.preventDefault();
        void run();
      },
    },
    h("div", { class: "asset-title" }, typeBadge(asset.type), h("h1", null, h("a", { href: `#/asset/${asset.id}` }, asset.name))),
    h("p", { class: "qualified-name" }, asset.qualified_name),
    h("h2", null, "Proposed change"),
    scope("columns", "Change columns"),
    fields.fields.length
      ? h(
          "table",
          { class: "grid", "data-testid": "change-columns" },
          h("thead", null, h("tr", null, h("th", null, "Column"), h("th", null, "Change"), h("th", null, "New name / type"))),
          h("tbody", null, rows.map((r) => r.element)),
        )
      : h("p", { class: "muted small" }, "This asset has no recorded columns."),
    scope("drop_asset", "Drop the whole asset"),
    scope("rename_asset", "Rename the asset to"),
    newQualifiedName,
    h("div", { class: "row" }, h("label", { class: "control" }, "Max depth", depth), h("button", { type: "submit", class: "primary", "data-testid": "run-impact" }, "Run impact analysis")),
    status,
  );
  replace(root, h("div", { class: "impact-layout" }, form, results));
  let canvas: GraphCanvas | null = null;

  function changes(): ProposedChange[] {
    if (assetAction === "drop_asset") return [{ kind: "drop_asset" }];
    if (assetAction === "rename_asset") return [{ kind: "rename_asset", new_qualified_name: newQualifiedName.value.trim() }];
    return rows.map((r) => r.change()).filter((c): c is ProposedChange => c !== null);
  }

  async function run(): Promise<void> {
    replace(status);
    const proposed = changes();
    if (proposed.length === 0) {
      add(status, errorBox(new Error("Choose at least one column to drop, rename or retype, or a change to the whole asset."), "Nothing to analyse"));
      return;
    }
    canvas?.destroy();
    canvas = null;
    results.dataset.state = "loading";
    replace(results, loading("Tracing the impact downstream…"));
    try {
      const report = await api<ImpactReport>("impact", {
        signal: ctx.signal,
        body: { asset_id: asset.id, changes: proposed, ...(depth.value ? { max_depth: Number(depth.value) } : {}) },
      });
      show(report);
      results.dataset.state = "ready";
    } catch (error) {
      if (ctx.signal.aborted) return;
      results.dataset.state = "error";
      replace(results, errorBox(error, "The impact could not be computed"));
    }
  }

  function show(report: ImpactReport): void {
    const stage = h("div", { class: "graph-stage small", "data-state": "ready" });
    const counts = report.summary.by_severity;
    replace(
      results,
      h(
        "section",
        { class: "card", "data-testid": "impact-summary", "data-severity": report.severity },
        h("h2", null, "Result: ", h("span", { class: `severity ${report.severity}` }, report.severity)),
        h(
          "div",
          { class: "summary-counts" },
          h("span", null, `${report.summary.assets} assets`),
          h("span", null, `${report.summary.columns} columns`),
          h("span", null, `${counts.breaking} breaking`),
          h("span", null, `${counts.warning} warning`),
          h("span", null, `${report.summary.possibly_affected} possibly affected (no column lineage)`),
          report.summary.pii_assets ? h("span", null, `${report.summary.pii_assets} with PII`) : null,
        ),
        report.changes.map((c) => h("p", { class: "muted small" }, h("span", { class: `severity ${c.severity}` }, c.severity), ` ${c.kind.replace("_", " ")}${c.column ? ` ${c.column}` : ""}: ${c.assessment}`)),
        report.summary.owners.length ? h("p", null, "Owners to notify: ", report.summary.owners.join(", ")) : null,
        report.truncated || report.depth_capped || report.limit_capped
          ? h("p", { class: "notice" }, `The server capped this analysis (depth ${report.max_depth}, ${report.limit} nodes)${report.truncated ? ": some affected assets are not listed" : ""}.`)
          : null,
        report.notes.map((n) => h("p", { class: "notice" }, n)),
        h(
          "div",
          { class: "actions" },
          h("button", { type: "button", "data-testid": "export-csv", onclick: () => download(`impact-${asset.name}.csv`, "text/csv", toCsv(report)) }, "Export CSV"),
          h("button", { type: "button", "data-testid": "export-json", onclick: () => download(`impact-${asset.name}.json`, "application/json", JSON.stringify(report, null, 2)) }, "Export JSON"),
        ),
      ),
      report.items.length ? stage : null,
      section(
        `Affected, most critical first (${report.items.length})`,
        report.items.length ? itemsTable(report.items) : h("p", { class: "muted", "data-testid": "nothing-affected" }, "Nothing downstream is affected: this change is safe."),
      ),
    );
    if (!report.items.length) return;
    canvas = new GraphCanvas(stage);
    canvas.render(impactModel(report, fields.fields), false);
  }

  return () => canvas?.destroy();
};

interface ChangeRow {
  element: HTMLTableRowElement;
  change(): ProposedChange | null;
  setEnabled(on: boolean): void;
}

function changeRow(field: SchemaField, initial: ColumnAction): ChangeRow {
  const action = h(
    "select",
    { name: `action-${field.name}`, "data-testid": `action-${field.name}`, "aria-label": `change to ${field.name}` },
    (
      [
        ["keep", "keep"],
        ["drop_column", "drop"],
        ["rename_column", "rename"],
        ["change_type", "change type"],
      ] as [ColumnAction, string][]
    ).map(([value, label]) => h("option", { value, selected: value === initial }, label)),
  );
  const detail = h("input", { type: "text", name: `detail-${field.name}`, "aria-label": `new name or type of ${field.name}`, disabled: true });
  const sync = (): void => {
    const value = action.value as ColumnAction;
    detail.disabled = action.disabled || (value !== "rename_column" && value !== "change_type");
    detail.placeholder = value === "rename_column" ? "new name" : value === "change_type" ? `new type (now ${field.data_type || "unknown"})` : "";
  };
  action.addEventListener("change", sync);
  sync();
  return {
    element: h(
      "tr",
      { class: "change-row", "data-node-id": `field:${field.id}` },
      h("td", { class: "mono" }, field.name, h("div", { class: "muted small" }, field.data_type)),
      h("td", null, action),
      h("td", null, detail),
    ),
    change(): ProposedChange | null {
      const value = action.value as ColumnAction;
      const text = detail.value.trim();
      if (value === "drop_column") return { kind: "drop_column", column: field.name };
      if (value === "rename_column" && text) return { kind: "rename_column", column: field.name, new_name: text };
      if (value === "change_type" && text) return { kind: "change_type", column: field.name, new_type: text };
      return null;
    },
    setEnabled(on: boolean): void {
      action.disabled = !on;
      sync();
    },
  };
}

function severityBadge(severity: Severity): HTMLElement {
  return h("span", { class: `severity ${severity}` }, severity);
}

function pathText(path: PathStep[]): string {
  const steps = path.filter((s) => s.kind !== "contains");
  if (!steps.length) return "";
  return [steps[0].from.name, ...steps.map((s) => s.to.name)].join(" → ");
}

function itemsTable(items: ImpactItem[]): HTMLElement {
  return h(
    "table",
    { class: "grid", "data-testid": "impact-items" },
    h("thead", null, h("tr", null, h("th", null, "#"), h("th", null, "Severity"), h("th", null, "Asset"), h("th", null, "Columns"), h("th", null, "Hops"), h("th", null, "Owners"), h("th", null, "Why"))),
    h(
      "tbody",
      null,
      items.map((item) =>
        h(
          "tr",
          { "data-asset-id": item.id, "data-severity": item.severity, "data-status": item.status },
          h("td", { class: "muted" }, String(item.rank)),
          h("td", null, severityBadge(item.severity), item.status === "possibly_affected" ? h("div", { class: "muted small" }, "possibly") : null),
          h("td", null, assetLink(item), h("div", { class: "muted small" }, item.type), item.tags.map(tagChip)),
          h("td", null, item.columns.length ? item.columns.map((c) => h("div", { class: "mono small", "data-node-id": `field:${c.id}` }, severityBadge(c.severity), ` ${c.name}`)) : h("span", { class: "muted" }, "—")),
          h("td", null, String(item.distance)),
          h("td", null, owners(item.owners)),
          h("td", { class: "small" }, item.reason, item.path.length ? h("details", null, h("summary", null, "path"), h("span", { class: "mono" }, pathText(item.path))) : null),
        ),
      ),
    ),
  );
}

function csvCell(value: string | number): string {
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One row per affected column, or per asset when the impact is at table level. */
export function toCsv(report: ImpactReport): string {
  const header = ["rank", "severity", "status", "asset_type", "asset", "qualified_name", "column", "column_severity", "distance", "owners", "reason", "path"];
  const lines = [header.join(",")];
  for (const item of report.items) {
    const base = [item.rank, item.severity, item.status, item.type, item.name, item.qualified_name];
    const rows = item.columns.length
      ? item.columns.map((c) => [...base, c.name, c.severity, c.distance, item.owners.join(" "), c.reason, pathText(c.path)])
      : [[...base, "", "", item.distance, item.owners.join(" "), item.reason, pathText(item.path)]];
    for (const row of rows) lines.push(row.map(csvCell).join(","));
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** The changed asset and everything affected, joined by the explaining paths; each box and
 * column coloured by its severity. */
function impactModel(report: ImpactReport, originFields: SchemaField[]): GraphModel {
  const boxes = new Map<number, GNode>();
  const columnsOf = new Map<number, Map<number, FieldSummary>>();
  const columnClasses = new Map<number, string[]>();
  const changed = new Set(report.changes.map((c) => c.column).filter((c): c is string => Boolean(c)));
  const box = (id: number, summary: { type: string; name: string; qualified_name: string; owners?: string[]; tags?: { id: number; name: string; category: string | null }[] }, classes: string[]): GNode => {
    let node = boxes.get(id);
    if (!node) {
      node = {
        key: `asset:${id}`,
        asset: { id, type: summary.type, name: summary.name, qualified_name: summary.qualified_name, description: "", owners: summary.owners ?? [], tags: summary.tags ?? [], metadata: {} },
        columns: [],
        classes: [],
        hiddenUp: 0,
        hiddenDown: 0,
        collapsible: [],
        columnClasses,
      };
      boxes.set(id, node);
    }
    node.classes.push(...classes);
    return node;
  };
  const column = (assetId: number, field: FieldSummary, classes: string[]): void => {
    const cols = columnsOf.get(assetId) ?? new Map<number, FieldSummary>();
    cols.set(field.id, field);
    columnsOf.set(assetId, cols);
    if (classes.length) columnClasses.set(field.id, classes);
  };
  box(report.asset.id, report.asset, ["impact-origin"]).note = `changed · ${report.severity}`;
  for (const f of originFields) if (changed.has(f.name)) column(report.asset.id, { ...f, asset_id: report.asset.id }, ["impact-origin"]);
  for (const item of report.items) {
    const node = box(item.id, item, [`impact-${item.severity}`, item.status === "possibly_affected" ? "impact-possible" : ""].filter(Boolean));
    node.note = `${item.type} · ${item.severity}${item.status === "possibly_affected" ? " (possibly)" : ""}`;
    for (const c of item.columns) column(item.id, { id: c.id, name: c.name, data_type: c.data_type, description: "", asset_id: item.id }, [`impact-${c.severity}`]);
  }
  const edges = new Map<string, GEdge>();
  const fieldEdges = new Map<string, GEdge>();
  const assetOfField = new Map<number, number>();
  for (const [assetId, cols] of columnsOf) for (const fid of cols.keys()) assetOfField.set(fid, assetId);
  const paths = report.items.flatMap((item) => [item.path, ...item.columns.map((c) => c.path)]);
  for (const step of paths.flat()) {
    if (step.kind === "relationship") {
      edges.set(`relationship:${step.id}`, { key: `relationship:${step.id}`, from: `asset:${step.from.id}`, to: `asset:${step.to.id}`, type: step.type, flow: true, classes: [] });
    } else if (step.kind === "field_lineage") {
      fieldEdges.set(`field_lineage:${step.id}`, { key: `field_lineage:${step.id}`, from: `field:${step.from.id}`, to: `field:${step.to.id}`, type: `column lineage (${step.type})`, flow: true, classes: [] });
    }
  }
  // Columns on a path that the report does not list (e.g. intermediate ones) still get a row.
  for (const step of paths.flat()) {
    if (step.kind !== "contains" || step.from.kind !== "field") continue;
    const assetId = step.to.id;
    if (!boxes.has(assetId) || assetOfField.has(step.from.id)) continue;
    column(assetId, { id: step.from.id, name: step.from.name.split(".").pop() ?? step.from.name, data_type: "", description: "", asset_id: assetId }, []);
    assetOfField.set(step.from.id, assetId);
  }
  for (const [assetId, cols] of columnsOf) {
    const node = boxes.get(assetId);
    if (node) node.columns = [...cols.values()].sort((a, b) => a.id - b.id);
  }
  // Assets joined only by column lineage still need an order left to right.
  for (const e of fieldEdges.values()) {
    const a = assetOfField.get(Number(e.from.slice(6)));
    const b = assetOfField.get(Number(e.to.slice(6)));
    if (a !== undefined && b !== undefined && a !== b) edges.set(`layout:${e.key}`, { key: `layout:${e.key}`, from: `asset:${a}`, to: `asset:${b}`, type: "", flow: true, classes: [], layoutOnly: true });
  }
  const showColumns = [...boxes.values()].some((n) => n.columns.length > 0);
  return { nodes: [...boxes.values()], edges: [...edges.values()], fieldEdges: [...fieldEdges.values()], showColumns, center: `asset:${report.asset.id}` };
}

// The asset page: identity, tags and owners, columns, lineage neighbours, relationships, history.

import { api } from "../api";
import { assetLink, errorBox, loading, owners, section, tagChip, typeBadge, when } from "../components";
import { h, replace, type Child } from "../dom";
import { flowOf } from "../graph/merge";
import type { View } from "../main";
import type { Asset, AssetFields, AuditEntry, Page, Relationship, TraversalOut } from "../types";

const HIDDEN_DIFF_KEYS = new Set(["version", "updated_at", "updated_by", "created_at", "created_by"]);

export const assetView: View = async (root, route, ctx) => {
  const id = Number(route.path[1]);
  if (!Number.isInteger(id) || id < 1) {
    root.appendChild(errorBox(new Error(`"${route.path[1] ?? ""}" is not an asset id`), "No such asset"));
    return;
  }
  root.appendChild(loading());
  const signal = ctx.signal;
  const asset = await api<Asset>(`assets/${id}`, { signal });
  ctx.setTitle(asset.name);
  const [fields, upstream, downstream, relationships, audit] = await Promise.all([
    api<AssetFields>(`assets/${id}/fields`, { signal }),
    settle(api<TraversalOut>("lineage/upstream", { signal, query: { asset_id: id, depth: 1 } })),
    settle(api<TraversalOut>("lineage/downstream", { signal, query: { asset_id: id, depth: 1 } })),
    api<Page<Relationship>>("relationships", { signal, query: { asset_id: id, direction: "both", limit: 100 } }),
    api<Page<AuditEntry>>(`assets/${id}/audit`, { signal, query: { limit: 15 } }),
  ]);
  const others = await relatedAssets(relationships.items, id, signal);
  replace(root, 
    header(asset),
    h(
      "div",
      { class: "columns-2" },
      h("div", null, columnsCard(fields), relationshipsCard(relationships, others, id)),
      h(
        "div",
        null,
        neighboursCard("Upstream", "Where its data comes from (one hop)", upstream),
        neighboursCard("Downstream", "Where its data goes (one hop)", downstream),
        historyCard(audit),
      ),
    ),
  );
};

async function settle<T>(promise: Promise<T>): Promise<T | Error> {
  try {
    return await promise;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

function header(asset: Asset): HTMLElement {
  const meta = asset.metadata as { openlineage?: { data_source?: { name?: string } } };
  return h(
    "section",
    { class: "card asset-header", "data-asset-id": asset.id },
    h("div", { class: "asset-title" }, typeBadge(asset.type), h("h1", null, asset.name)),
    h("p", { class: "qualified-name", "data-testid": "qualified-name" }, asset.qualified_name),
    asset.description ? h("p", { class: "description" }, asset.description) : h("p", { class: "muted" }, "No description."),
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "Owners"),
      h("dd", { "data-testid": "owners" }, owners(asset.owners)),
      h("dt", null, "Tags"),
      h("dd", { "data-testid": "tags" }, asset.tags.length ? asset.tags.map(tagChip) : h("span", { class: "muted" }, "none")),
      meta.openlineage?.data_source?.name ? [h("dt", null, "Source"), h("dd", null, meta.openlineage.data_source.name)] : null,
      h("dt", null, "Updated"),
      h("dd", null, `${when(asset.updated_at)} (version ${asset.version})`),
    ),
    h(
      "div",
      { class: "actions" },
      h("a", { class: "button primary", href: `#/lineage/${asset.id}` }, "Lineage graph"),
      h("a", { class: "button", href: `#/impact/${asset.id}` }, "Impact of a change"),
      h("a", { class: "button", href: `#/paths?from=asset:${asset.id}` }, "Paths from here"),
    ),
  );
}

function columnsCard(fields: AssetFields): HTMLElement {
  if (fields.fields.length === 0) return section("Columns", h("p", { class: "muted" }, "No columns recorded."));
  return section(
    `Columns (${fields.fields.length})`,
    h(
      "table",
      { class: "grid", "data-testid": "columns" },
      h("thead", null, h("tr", null, h("th", null, "Name"), h("th", null, "Type"), h("th", null, "Description"))),
      h(
        "tbody",
        null,
        fields.fields.map((f) =>
          h(
            "tr",
            { "data-node-id": `field:${f.id}` },
            h("td", { class: "mono" }, f.name, f.nullable ? null : h("span", { class: "pill", title: "NOT NULL" }, "required")),
            h("td", { class: "mono muted" }, f.data_type || "—"),
            h("td", null, f.description || h("span", { class: "muted" }, "—")),
          ),
        ),
      ),
    ),
  );
}

function neighboursCard(title: string, help: string, result: TraversalOut | Error): HTMLElement {
  if (result instanceof Error) return section(title, errorBox(result, `${title} lineage is unavailable`));
  const list: Child = result.nodes.length
    ? h(
        "ul",
        { class: "neighbours", "data-testid": title.toLowerCase() },
        result.nodes.map((n) => h("li", { "data-node-id": `asset:${n.id}` }, assetLink(n.asset), h("span", { class: "muted small" }, ` via ${n.via?.type ?? ""}`))),
      )
    : h("p", { class: "muted" }, "None recorded.");
  return section(title, h("p", { class: "muted small" }, help), list, result.truncated ? h("p", { class: "notice" }, "More exist than shown.") : null);
}

async function relatedAssets(items: Relationship[], self: number, signal: AbortSignal): Promise<Map<number, Asset>> {
  const ids = [...new Set(items.map((r) => (r.source_id === self ? r.target_id : r.source_id)))].slice(0, 100);
  const found = await Promise.all(ids.map((id) => settle(api<Asset>(`assets/${id}`, { signal }))));
  const map = new Map<number, Asset>();
  for (const a of found) if (!(a instanceof Error)) map.set(a.id, a);
  return map;
}

function relationshipsCard(page: Page<Relationship>, others: Map<number, Asset>, self: number): HTMLElement {
  if (page.items.length === 0) return section("Relationships", h("p", { class: "muted" }, "None."));
  const rows = page.items.map((r) => {
    const outgoing = r.source_id === self;
    const other = others.get(outgoing ? r.target_id : r.source_id);
    const flow = flowOf({ kind: "relationship", id: r.id, type: r.type, source: { kind: "asset", id: r.source_id }, target: { kind: "asset", id: r.target_id } });
    const reading = flow === null ? "structure" : flow[0] === `asset:${self}` ? "feeds" : "fed by";
    return h(
      "tr",
      { "data-relationship-id": r.id },
      h("td", null, h("span", { class: "pill" }, r.type)),
      h("td", { class: "muted" }, outgoing ? "→" : "←"),
      h("td", null, other ? assetLink(other) : h("span", { class: "muted" }, `asset ${outgoing ? r.target_id : r.source_id}`)),
      h("td", { class: "muted small" }, reading),
    );
  });
  return section(
    `Relationships (${page.items.length}${page.next_cursor ? "+" : ""})`,
    h("table", { class: "grid" }, h("tbody", null, rows)),
  );
}

function historyCard(page: Page<AuditEntry>): HTMLElement {
  if (page.items.length === 0) return section("Recent changes", h("p", { class: "muted" }, "No changes recorded."));
  return section(
    "Recent changes",
    h(
      "ol",
      { class: "history", "data-testid": "history" },
      page.items.map((entry) =>
        h(
          "li",
          null,
          h("span", { class: "pill" }, entry.action),
          " ",
          h("span", null, entry.actor_user_id === null ? "system" : `user ${entry.actor_user_id}`),
          " · ",
          h("time", { datetime: entry.created_at, class: "muted" }, when(entry.created_at)),
          changedKeys(entry),
        ),
      ),
    ),
  );
}

function changedKeys(entry: AuditEntry): Child {
  const before = entry.before ?? {};
  const after = entry.after ?? {};
  const tag = after.tag_name ?? before.tag_name;
  if (entry.entity_type === "asset_tag" && typeof tag === "string") return h("div", { class: "muted small" }, `tag ${tag}`);
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
    (k) => !HIDDEN_DIFF_KEYS.has(k) && JSON.stringify(before[k]) !== JSON.stringify(after[k]),
  );
  if (!entry.before || keys.length === 0) return null;
  return h("div", { class: "muted small" }, `changed ${keys.join(", ")}`);
}

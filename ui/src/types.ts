// The shapes of the API's answers that the UI reads (see /openapi.json).

export interface TagRef {
  id: number;
  name: string;
  category: string | null;
}

export interface AssetSummary {
  id: number;
  type: string;
  name: string;
  qualified_name: string;
  description: string;
  owners: string[];
  tags: TagRef[];
  metadata: Record<string, unknown>;
}

export interface Asset extends AssetSummary {
  version: number;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

export interface SchemaField {
  id: number;
  asset_id: number;
  name: string;
  data_type: string;
  nullable: boolean;
  description: string;
  ordinal: number;
}

export interface AssetFields {
  asset_id: number;
  asset_version: number;
  fields: SchemaField[];
}

export interface FieldSummary {
  id: number;
  name: string;
  data_type: string;
  description: string;
  asset_id: number;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
  limit: number;
  limit_capped: boolean;
}

export interface Relationship {
  id: number;
  source_id: number;
  target_id: number;
  type: string;
  metadata: Record<string, unknown>;
}

export interface AuditEntry {
  id: number;
  actor_user_id: number | null;
  actor_key_id: number | null;
  action: string;
  entity_type: string;
  entity_id: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  created_at: string;
}

export type NodeKind = "asset" | "field";

export interface NodeKey {
  kind: NodeKind;
  id: number;
}

export interface EdgeOut {
  kind: "relationship" | "field_lineage" | "contains";
  id: number;
  source: NodeKey;
  target: NodeKey;
  type: string;
}

export interface NodeOut {
  kind: NodeKind;
  id: number;
  distance: number;
  asset: AssetSummary;
  field: FieldSummary | null;
  via: EdgeOut | null;
}

export interface ViewNodeOut extends NodeOut {
  side: "center" | "upstream" | "downstream";
  hidden_upstream: number;
  hidden_downstream: number;
}

export interface GraphViewOut {
  center: NodeKey;
  upstream_depth: number | null;
  downstream_depth: number | null;
  depth_capped: boolean;
  node_cap: number;
  node_cap_capped: boolean;
  truncated: boolean;
  nodes: ViewNodeOut[];
  edges: EdgeOut[];
}

export interface TraversalOut {
  start: NodeOut;
  direction: "upstream" | "downstream";
  depth: number | null;
  truncated: boolean;
  limit_capped: boolean;
  nodes: NodeOut[];
}

export interface PathsOut {
  source: NodeKey;
  target: NodeKey;
  shortest: EdgeOut[] | null;
  paths: EdgeOut[][];
  max_depth: number;
  max_paths: number;
  capped: boolean;
  truncated: boolean;
  nodes: NodeOut[];
}

export interface User {
  id: number;
  email: string;
  name: string;
  roles: string[];
}

export interface Tenant {
  id: string;
  slug: string;
  name: string;
}

export function nodeId(key: NodeKey): string {
  return `${key.kind}:${key.id}`;
}

export type SearchMode = "hybrid" | "fulltext" | "semantic";

export interface SearchHighlight {
  field: "description" | "columns";
  fragment: string;
  ranges: [number, number][];
}

export interface SearchHit {
  asset: AssetSummary;
  score: number;
  matched_by: ("fulltext" | "semantic")[];
  highlights: SearchHighlight[];
}

export interface FacetCount {
  value: string;
  count: number;
}

export interface SearchOut {
  query: string;
  mode: SearchMode;
  limit: number;
  total: number;
  hits: SearchHit[];
  facets: Record<string, FacetCount[]>;
  next_cursor: string | null;
}

export type Severity = "breaking" | "warning" | "safe";

export type ProposedChange =
  | { kind: "drop_column"; column: string }
  | { kind: "rename_column"; column: string; new_name: string }
  | { kind: "change_type"; column: string; new_type: string }
  | { kind: "drop_asset" }
  | { kind: "rename_asset"; new_qualified_name: string };

export interface PathNode {
  kind: NodeKind;
  id: number;
  name: string;
  qualified_name: string;
}

export interface PathStep {
  kind: "relationship" | "field_lineage" | "contains";
  id: number;
  type: string;
  from: PathNode; // upstream end
  to: PathNode;
}

export interface ImpactColumn {
  id: number;
  name: string;
  data_type: string;
  severity: Severity;
  distance: number;
  direct: boolean;
  reason: string;
  path: PathStep[];
}

export interface ImpactItem {
  rank: number;
  id: number;
  type: string;
  name: string;
  qualified_name: string;
  owners: string[];
  tags: TagRef[];
  pii: boolean;
  category: "exposure" | "job" | "data";
  status: "affected" | "possibly_affected";
  severity: Severity;
  distance: number;
  direct: boolean;
  basis: string;
  reason: string;
  dependents: number;
  path: PathStep[];
  columns: ImpactColumn[];
}

export interface SeverityCounts {
  breaking: number;
  warning: number;
  safe: number;
}

export interface ImpactReport {
  asset: AssetSummary;
  changes: { kind: string; column: string | null; severity: Severity; assessment: string }[];
  severity: Severity;
  summary: {
    assets: number;
    columns: number;
    possibly_affected: number;
    by_severity: SeverityCounts;
    by_asset_type: Record<string, SeverityCounts>;
    owners: string[];
    pii_assets: number;
  };
  items: ImpactItem[];
  max_depth: number;
  depth_capped: boolean;
  limit: number;
  limit_capped: boolean;
  truncated: boolean;
  notes: string[];
}

// Lints every .cypher file given on the command line (or every file under headwater/cypher) with
// Neo4j's own linter. Each file declares its parameters in header comments:
//   // param: tenant_id = "00000000-0000-0000-0000-000000000000"
// and the graph's labels, relationship types and property keys come from headwater/cypher/schema.json.
// Prints one JSON line per file; exits 1 when any file has an error (or, with --strict, a warning).
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname, basename } from "node:path";
import { fileURLToPath } from "node:url";
import { lintCypherQuery } from "@neo4j-cypher/language-support";

const here = dirname(fileURLToPath(import.meta.url));
const cypherDir = join(here, "..", "..", "headwater", "cypher");
const args = process.argv.slice(2);
const strict = args.includes("--strict");
let files = args.filter((a) => !a.startsWith("--"));
if (files.length === 0) {
  files = readdirSync(cypherDir)
    .filter((f) => f.endsWith(".cypher"))
    .sort()
    .map((f) => join(cypherDir, f));
}
const schema = JSON.parse(readFileSync(join(cypherDir, "schema.json"), "utf8"));

let failed = false;
for (const file of files) {
  const text = readFileSync(file, "utf8");
  const parameters = {};
  for (const match of text.matchAll(/^\/\/\s*param:\s*(\w+)\s*=\s*(.+)$/gm)) {
    parameters[match[1]] = JSON.parse(match[2]);
  }
  const { diagnostics } = lintCypherQuery(text, { ...schema, parameters });
  const found = diagnostics.map((d) => ({
    severity: d.severity === 1 ? "error" : "warning",
    message: d.message,
    line: d.range.start.line + 1,
    column: d.range.start.character + 1,
  }));
  const errors = found.filter((d) => d.severity === "error");
  if (errors.length > 0 || (strict && found.length > 0)) failed = true;
  console.log(JSON.stringify({ file: basename(file), errors: errors.length, diagnostics: found }));
}
process.exit(failed ? 1 : 0);

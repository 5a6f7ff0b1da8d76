// Compose the committed subgraph SDL (subgraphs/*.graphql, written by `python -m cloudops.api.export`)
// into supergraph.graphql with Apollo's own composition library: the same checks Rover runs.
//   node compose.mjs            write supergraph.graphql
//   node compose.mjs --check    exit 1 if supergraph.graphql is not what the subgraphs compose to
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

const here = dirname(fileURLToPath(import.meta.url));
export const SUBGRAPHS = ["costs", "recommendations", "ingest"];
// The URLs recorded in the supergraph; server.mjs points them at CLOUDOPS_API_URL at run time.
const BASE = "http://127.0.0.1:8000/graphql";

export function compose() {
  const services = SUBGRAPHS.map((name) => ({
    name,
    url: `${BASE}/${name}`,
    typeDefs: parse(readFileSync(join(here, "subgraphs", `${name}.graphql`), "utf8")),
  }));
  const result = composeServices(services);
  if (result.errors && result.errors.length) {
    throw new Error("composition failed:\n" + result.errors.map((e) => `- ${e.message}`).join("\n"));
  }
  return result.supergraphSdl.trimEnd() + "\n";
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = join(here, "supergraph.graphql");
  const sdl = compose();
  if (process.argv.includes("--check")) {
    const committed = existsSync(target) ? readFileSync(target, "utf8") : "";
    if (committed !== sdl) {
      console.error("supergraph.graphql is stale: run `npm run compose` in gateway/ and commit it");
      process.exit(1);
    }
    console.log("supergraph.graphql is up to date");
  } else {
    writeFileSync(target, sdl);
    console.log(`wrote ${target}`);
  }
}

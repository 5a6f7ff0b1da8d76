// Bundle budget: the JavaScript a first visit loads (dist/index.html's module script and its
// modulepreloads) must stay under 350 kB gzip; pages and the chart library are separate chunks.
import { readFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET = 350 * 1024;
const dist = path.resolve(import.meta.dirname, "..", "dist");
const html = readFileSync(path.join(dist, "index.html"), "utf8");
const files = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
let total = 0;
for (const f of files) {
  const size = gzipSync(readFileSync(path.join(dist, f)), { level: 9 }).length;
  total += size;
  console.log(`budget: ${f} ${(size / 1024).toFixed(1)} kB gzip`);
}
console.log(`budget: initial JS ${(total / 1024).toFixed(1)} kB gzip (budget ${BUDGET / 1024} kB)`);
if (!files.length || total > BUDGET) process.exit(1);

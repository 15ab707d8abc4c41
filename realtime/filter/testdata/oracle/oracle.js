// Asks real Koncorde 4.7.0 about the cases written by the Go generator and
// writes the expected results as gzipped JSON test vectors.
// Usage: node oracle.js <cases.json> <vectors.json.gz>
"use strict";

const fs = require("fs");
const path = require("path");
const zlib = require("zlib");
const { Koncorde } = require("koncorde");

const [, , inPath, outPath] = process.argv;
if (!inPath || !outPath) {
  console.error("usage: node oracle.js <cases.json> <vectors.json.gz>");
  process.exit(2);
}

const version = JSON.parse(
  fs.readFileSync(path.join(__dirname, "node_modules/koncorde/package.json")),
).version;
if (version !== "4.7.0") {
  console.error(`expected koncorde 4.7.0, found ${version}`);
  process.exit(1);
}

const INDEX = "i/c";
const cases = JSON.parse(fs.readFileSync(inPath));
const out = { koncorde: version, maxConditions: cases.maxConditions, groups: [] };

for (const g of cases.groups) {
  const koncorde = new Koncorde({ maxConditions: cases.maxConditions });
  const results = [];
  const classOf = new Map(); // Koncorde id -> index of the first filter with it
  const byId = new Map(); // Koncorde id -> filter indexes

  g.filters.forEach((filter, i) => {
    const r = {};
    try {
      koncorde.validate(filter);
      r.validate = "";
    } catch (e) {
      r.validate = e.message;
    }
    let normalized;
    try {
      normalized = koncorde.normalize(filter, INDEX);
      r.normalize = "";
      r.canonical = normalized.filter;
    } catch (e) {
      r.normalize = e.message;
    }
    if (normalized) {
      // Some filters normalize but cannot be stored (Koncorde throws on
      // "not select" / "not nothing"); try on a scratch instance first so
      // the real one is never left half-updated.
      try {
        new Koncorde({ maxConditions: cases.maxConditions }).register(filter, INDEX);
        r.store = "";
      } catch (e) {
        r.store = e.message;
      }
      if (!classOf.has(normalized.id)) {
        classOf.set(normalized.id, i);
        byId.set(normalized.id, []);
      }
      r.class = classOf.get(normalized.id);
      if (r.store === "") {
        koncorde.store(normalized);
        byId.get(normalized.id).push(i);
      }
    }
    results.push(r);
  });

  const matches = g.docs.map((d) => {
    const body = Object.assign({}, d.source);
    if (d.id !== "") {
      body._id = d.id;
    }
    try {
      const ids = koncorde.test(body, INDEX);
      const idx = [];
      for (const id of ids) {
        idx.push(...byId.get(id));
      }
      return idx.sort((a, b) => a - b);
    } catch (e) {
      return null;
    }
  });

  out.groups.push({ filters: g.filters, docs: g.docs, results, matches });
}

fs.writeFileSync(outPath, zlib.gzipSync(JSON.stringify(out), { level: 9 }));
console.error(`wrote ${outPath}: ${out.groups.length} groups`);

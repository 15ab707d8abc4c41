// Koncorde's own benchmark.js shape (10,000 filters per keyword, then
// matching one document), without its extra dependencies (benchmark,
// geojson-random, random-js): the generators below draw from the same
// distributions. Prints one JSON line per keyword.
"use strict";

const path = require("path");
const { Koncorde } = require(path.join(__dirname, "../testdata/oracle/node_modules/koncorde"));

const max = 10000;
const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
const randString = (n) => {
  let s = "";
  for (let i = 0; i < n; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
};
const randInt = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));
const position = () => [Math.random() * 360 - 180, Math.random() * 180 - 90];
const polygon = (vertices) => {
  const offsets = [];
  for (let i = 0; i <= vertices; i++) offsets.push(Math.random() + (i > 0 ? offsets[i - 1] : 0));
  const [hubLon, hubLat] = position();
  const pts = offsets.map((o) => {
    const a = (o * 2 * Math.PI) / offsets[offsets.length - 1];
    const s = Math.random();
    return [hubLat + s * 10 * Math.cos(a), hubLon + s * 10 * Math.sin(a)];
  });
  pts[pts.length - 1] = pts[0];
  return pts;
};

const cases = [
  ["equals", () => ({ equals: { str: randString(20) } }), () => ({ str: randString(20) })],
  ["exists", () => ({ exists: { field: randString(20) } }), () => ({ [randString(20)]: true })],
  ["geoBoundingBox", () => {
    const [lon, lat] = position();
    return { geoBoundingBox: { point: { bottom: lat - 0.5, left: lon, right: lon + 0.5, top: lat } } };
  }, () => ({ point: [0, 0] })],
  ["geoDistance", () => {
    const [lon, lat] = position();
    return { geoDistance: { distance: "500m", point: [lat, lon] } };
  }, () => ({ point: [0, 0] })],
  ["geoDistanceRange", () => {
    const [lon, lat] = position();
    return { geoDistanceRange: { from: "500m", point: [lat, lon], to: "1km" } };
  }, () => ({ point: [0, 0] })],
  ["geoPolygon", () => ({ geoPolygon: { point: { points: polygon(5) } } }), () => ({ point: [0, 0] })],
  ["in", () => {
    const values = [];
    for (let i = 0; i < 5; i++) values.push(randString(20));
    return { in: { str: values } };
  }, () => ({ str: randString(20) })],
  ["range", () => {
    const bound = randInt(-10000, 10000);
    return { range: { integer: { gte: bound, lte: bound + 100 } } };
  }, () => ({ integer: randInt(-10000, 10000) })],
];

const only = process.argv[2];
for (const [name, gen, docGen] of cases) {
  if (only && only !== name) continue;
  const koncorde = new Koncorde();
  const start = process.hrtime.bigint();
  for (let i = 0; i < max; i++) koncorde.register(gen());
  const indexation = Number(process.hrtime.bigint() - start) / 1e9;
  const doc = docGen();
  const matches = koncorde.test(doc).length;
  // warm up, then three runs of about one second; report the median
  for (let i = 0; i < 10000; i++) koncorde.test(doc);
  const rates = [];
  for (let run = 0; run < 3; run++) {
    let ops = 0;
    const t0 = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < 1e9) {
      for (let i = 0; i < 1000; i++) koncorde.test(doc);
      ops += 1000;
      elapsed = Number(process.hrtime.bigint() - t0);
    }
    rates.push(ops / (elapsed / 1e9));
  }
  rates.sort((a, b) => a - b);
  console.log(JSON.stringify({ name, indexation, matches, opsPerSec: rates[1] }));
}

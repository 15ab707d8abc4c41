'use strict';
// The README's SDK snippet must run as written: it is extracted from
// README.md, pointed at a test node's port, and run as its own Node process.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startNode } = require('./harness');

let node;
before(async () => { node = await startNode(); });
after(async () => { if (node) await node.stop(); });

function readmeSnippet() {
  const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
  const m = readme.match(/```js\n([\s\S]*?)```/);
  assert.ok(m, 'README.md has a ```js block');
  return m[1];
}

function run(file) {
  return new Promise((resolve) => {
    // The snippet requires kuzzle-sdk: run it from this folder so it
    // resolves the pinned one in node_modules.
    execFile(process.execPath, [file], { cwd: __dirname, timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('the README snippet runs as written, twice', async () => {
  const src = readmeSnippet();
  assert.match(src, /port: 7512/);
  const file = path.join(__dirname, `readme-snippet-${process.pid}.js`);
  fs.writeFileSync(file, src.replace('port: 7512', `port: ${node.port}`));
  try {
    const first = await run(file);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^create in ride-1$/m);
    // A second run finds the index and document already there.
    const second = await run(file);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^replace in ride-1$/m);
  } finally {
    fs.rmSync(file, { force: true });
  }
});

'use strict';
// The smallest Kuzzle 2 application: a Backend with nothing added. Its
// configuration comes from kuzzle_* environment variables (rc), set by
// kuzzle.test.js.
const { Backend } = require('kuzzle');

const app = new Backend('korum-compat');
app.start().catch((e) => {
  console.error(e);
  process.exit(1);
});

// caisse-bench loads this with `node --require` before the inline handler's server.js. It counts
// the SQL statements the handler sends through node-postgres (every Client#query call, BEGIN and
// COMMIT included, as caisse counts its own), and answers each line read on stdin with the count
// so far, one line on stdout. The handler itself is unchanged.
const { Client } = require(require.resolve('pg', { paths: [process.cwd()] }));

let statements = 0;
const query = Client.prototype.query;
Client.prototype.query = function countedQuery(...args) {
  statements++;
  return query.apply(this, args);
};

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) {
    process.stdout.write(`${statements}\n`);
  }
});

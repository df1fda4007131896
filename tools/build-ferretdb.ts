// Builds (or finds cached) the FerretDB helper and prints its path. Used by .ci/run so the
// Go build happens before the tests, outside any test timeout.
import { buildFerretDB } from './test-server';

buildFerretDB('the tests fall back to it when no mongod is available').then(
  (bin) => process.stdout.write(`${bin}\n`),
  (err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  },
);

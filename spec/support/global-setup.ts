import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeCapabilities } from '../../tools/capabilities';
import {
  describeServer,
  type RunningServer,
  resolveServer,
  startMongod,
} from '../../tools/test-server';
import { addNote, NOTES_ENV } from './notes';

declare global {
  // Handed from setup to teardown (same process).
  var __CMS_SERVERS__: RunningServer[] | undefined;
}

/**
 * Resolves one server for the whole run, probes what it can do, and hands both to the spec
 * workers through the environment (workers start after this and inherit it). What it finds
 * goes to the run's notes, for the closing summary.
 */
export default async function globalSetup(): Promise<void> {
  process.env[NOTES_ENV] = join(mkdtempSync(join(tmpdir(), 'cms-notes-')), 'notes.jsonl');
  const found = (text: string) => addNote({ kind: 'server', text });
  const server = await resolveServer((line) => {
    // Said before a step that can take minutes (a FerretDB build): shown now as well.
    // Jest leaves its "Determining test suites" line open, hence the leading newline.
    process.stdout.write(`\n[server] ${line}\n`);
    found(line);
  });
  const servers = [server];
  globalThis.__CMS_SERVERS__ = servers;
  found(`using ${await describeServer(server.uri)} at ${server.uri} (${server.kind})`);

  const caps = await probeCapabilities(server.uri);
  let replSetUri = caps.replicaSet.ok ? server.uri : '';
  let replSetCaps = caps;
  if (!caps.replicaSet.ok && server.mongodBinary !== undefined) {
    // A real mongod is at hand: give the replica-set specs one of their own.
    const rs = await startMongod({ replSet: true, binary: server.mongodBinary });
    servers.push(rs);
    replSetUri = rs.uri;
    replSetCaps = await probeCapabilities(rs.uri);
    found(`replica set for replica-set specs: ${await describeServer(rs.uri)}`);
  }
  for (const [name, cap] of Object.entries(caps)) {
    found(`${name}: ${cap.ok ? 'yes' : 'no'} (${cap.reason})`);
  }

  process.env.CMS_TEST_URI = server.uri;
  process.env.CMS_TEST_KIND = server.kind;
  process.env.CMS_TEST_CAPS = JSON.stringify(caps);
  process.env.CMS_TEST_REPLSET_URI = replSetUri;
  process.env.CMS_TEST_REPLSET_CAPS = JSON.stringify(replSetCaps);
  process.env.CMS_TEST_MONGOD_BINARY = server.mongodBinary ?? '';
}

import { typeError } from './errors.js';

/** One MongoDB connection string, split into the parts we merge. */
export interface ParsedUri {
  scheme: 'mongodb' | 'mongodb+srv';
  auth: string;
  hosts: string[];
  database: string;
  params: Map<string, string>;
}

const URI = /^(mongodb(?:\+srv)?):\/\/(?:([^@/]*)@)?([^/?]+)(?:\/([^?]*))?(?:\?(.*))?$/;

/** Splits a `mongodb://` or `mongodb+srv://` URI; a `TypeError` when it is neither. */
export function parseUri(uri: string): ParsedUri {
  const m = typeof uri === 'string' ? URI.exec(uri.trim()) : null;
  if (!m) {
    throw typeError(
      `uris: expected a mongodb:// or mongodb+srv:// URI, got ${JSON.stringify(uri)}`,
    );
  }
  const params = new Map<string, string>();
  for (const pair of (m[5] ?? '').split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    params.set(eq < 0 ? pair : pair.slice(0, eq), eq < 0 ? '' : pair.slice(eq + 1));
  }
  return {
    scheme: m[1] as ParsedUri['scheme'],
    auth: m[2] ?? '',
    hosts: m[3].split(',').filter((h) => h !== ''),
    database: decodeURIComponent(m[4] ?? ''),
    params,
  };
}

/** Writes a parsed URI back as a string. */
export function formatUri(p: ParsedUri): string {
  const auth = p.auth === '' ? '' : `${p.auth}@`;
  const query = [...p.params].map(([k, v]) => `${k}=${v}`).join('&');
  return `${p.scheme}://${auth}${p.hosts.join(',')}/${encodeURIComponent(p.database)}${query === '' ? '' : `?${query}`}`;
}

function agree(what: string, a: string, b: string): string {
  if (a !== '' && b !== '' && a !== b) {
    throw typeError(
      `uris: conflicting ${what} between URIs (${JSON.stringify(a)} and ${JSON.stringify(b)})`,
    );
  }
  return a === '' ? b : a;
}

/**
 * Turns the `uris` argument into one connection string.
 *
 * One URI is kept as given. Several are taken as members of one replica set: their hosts
 * are joined, and their database, credentials and options must agree where more than one
 * URI gives them.
 */
export function mergeUris(uris: string | readonly string[]): string {
  if (typeof uris === 'string') {
    parseUri(uris);
    return uris;
  }
  if (!Array.isArray(uris) || uris.length === 0) {
    throw typeError('uris: expected a URI or a non-empty array of URIs');
  }
  if (uris.length === 1) return mergeUris(uris[0]);
  const parts = uris.map(parseUri);
  if (parts.some((p) => p.scheme === 'mongodb+srv')) {
    throw typeError(
      'uris: a mongodb+srv:// URI names a whole deployment; give it alone, not in an array',
    );
  }
  const merged: ParsedUri = {
    scheme: 'mongodb',
    auth: '',
    hosts: [],
    database: '',
    params: new Map(),
  };
  for (const p of parts) {
    merged.auth = agree('credentials', merged.auth, p.auth);
    merged.database = agree('databases', merged.database, p.database);
    for (const h of p.hosts) if (!merged.hosts.includes(h)) merged.hosts.push(h);
    for (const [k, v] of p.params) {
      const what = k === 'replicaSet' ? 'replicaSet names' : `values of option ${k}`;
      merged.params.set(k, agree(what, merged.params.get(k) ?? '', v));
    }
  }
  return formatUri(merged);
}

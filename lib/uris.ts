import { ConnectionString } from 'mongodb-connection-string-url';
import { typeError } from './errors.js';

/** One MongoDB connection string, split into the parts we merge. Text is decoded. */
export interface ParsedUri {
  scheme: 'mongodb' | 'mongodb+srv';
  /** The user name, percent-escapes decoded; `''` when the URI has no credentials. */
  username: string;
  /** The password, percent-escapes decoded; `''` when the URI gives none. */
  password: string;
  /** Each host as written (`db1:27017`, `[::1]:27017`, `%2Ftmp%2Fmongodb.sock`). */
  hosts: string[];
  /** The database, decoded; `''` when the URI names none. */
  database: string;
  /** Each option with its values (an option may repeat, e.g. `readPreferenceTags`). */
  params: Map<string, string[]>;
}

// The parser's messages may quote the URI or the user name: we say what is wrong in our own
// words instead. Each entry is one message of mongodb-connection-string-url 7.
const PARSER_SAYS: readonly [RegExp, string][] = [
  [/^Invalid scheme/, 'expected a mongodb:// or mongodb+srv:// URI'],
  [/host list are required/, 'a URI without a host'],
  [/^Username contains unescaped/, 'the user name has an unescaped : / ? # [ ] or @'],
  [/^Password contains unescaped/, 'the password has an unescaped : / ? # [ ] or @'],
  [/^URI malformed/, 'a malformed percent-escape in the credentials'],
  [/empty userinfo/, 'an empty user name before @'],
  [/multiple service names/, 'a mongodb+srv:// URI names exactly one host'],
  [/cannot have port number/, 'a mongodb+srv:// URI takes no port'],
];

function parserSaid(err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  const known = PARSER_SAYS.find(([re]) => re.test(message));
  return `uris: ${known?.[1] ?? 'not a valid MongoDB connection string'}`;
}

function decoded(what: string, text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw typeError(`uris: a malformed percent-escape in the ${what}`);
  }
}

/**
 * Splits a `mongodb://` or `mongodb+srv://` URI with the MongoDB driver's own parser.
 * A `TypeError` saying what is wrong, never quoting the URI, when it is not one.
 */
export function parseUri(uri: string): ParsedUri {
  if (typeof uri !== 'string') {
    throw typeError(`uris: expected a mongodb:// or mongodb+srv:// URI, got a ${typeof uri}`);
  }
  let cs: ConnectionString;
  try {
    cs = new ConnectionString(uri);
  } catch (err) {
    throw typeError(parserSaid(err));
  }
  if (cs.hosts.some((h) => h === '')) throw typeError('uris: an empty entry in the host list');
  const params = new Map<string, string[]>();
  for (const [k, v] of cs.searchParams) params.set(k, [...(params.get(k) ?? []), v]);
  return {
    scheme: cs.isSRV ? 'mongodb+srv' : 'mongodb',
    username: decoded('credentials', cs.username),
    password: decoded('credentials', cs.password),
    hosts: [...cs.hosts],
    database: decoded('database name', cs.pathname.slice(1)),
    params,
  };
}

/** Writes a parsed URI back as a string, escaping what needs it. */
export function formatUri(p: ParsedUri): string {
  const user = p.username === '' ? '' : encodeURIComponent(p.username);
  const pass = p.password === '' ? '' : `:${encodeURIComponent(p.password)}`;
  const auth = user === '' && pass === '' ? '' : `${user}${pass}@`;
  const query = new URLSearchParams();
  for (const [k, vs] of p.params) for (const v of vs) query.append(k, v);
  const search = query.size === 0 ? '' : `?${query}`;
  return `${p.scheme}://${auth}${p.hosts.join(',')}/${encodeURIComponent(p.database)}${search}`;
}

// The same host spelled twice: names are case-insensitive, and 27017 is the default port.
function hostKey(host: string): string {
  const h = host.toLowerCase();
  const hasPort = h.startsWith('[') ? /\]:\d+$/.test(h) : h.includes(':');
  return hasPort ? h : `${h}:27017`;
}

/**
 * Turns the `uris` argument into one connection string.
 *
 * One URI is kept as given, once the driver's parser accepts it. Several are taken as members
 * of one replica set: their hosts are joined, and their database, credentials and options must
 * agree where more than one URI gives them. Conflicts are named, never the credentials nor an
 * option's value.
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
    username: '',
    password: '',
    hosts: [],
    database: '',
    params: new Map(),
  };
  const seenHosts = new Set<string>();
  // Option names are case-insensitive in a connection string: the first spelling wins.
  const spelling = new Map<string, string>();
  for (const p of parts) {
    if (p.username !== '' || p.password !== '') {
      const given = merged.username !== '' || merged.password !== '';
      if (given && (merged.username !== p.username || merged.password !== p.password)) {
        throw typeError('uris: conflicting credentials between URIs');
      }
      merged.username = p.username;
      merged.password = p.password;
    }
    if (p.database !== '') {
      if (merged.database !== '' && merged.database !== p.database) {
        throw typeError(
          `uris: conflicting databases between URIs (${JSON.stringify(merged.database)} and ${JSON.stringify(p.database)})`,
        );
      }
      merged.database = p.database;
    }
    for (const h of p.hosts) {
      if (seenHosts.has(hostKey(h))) continue;
      seenHosts.add(hostKey(h));
      merged.hosts.push(h);
    }
    for (const [k, vs] of p.params) {
      const name = spelling.get(k.toLowerCase()) ?? k;
      spelling.set(k.toLowerCase(), name);
      const had = merged.params.get(name);
      if (had !== undefined && JSON.stringify(had) !== JSON.stringify(vs)) {
        throw typeError(
          name.toLowerCase() === 'replicaset'
            ? 'uris: conflicting replicaSet names between URIs'
            : `uris: conflicting values of option ${name} between URIs`,
        );
      }
      merged.params.set(name, vs);
    }
  }
  return formatUri(merged);
}

import createDebug from 'debug';

/** The store's `debug` logger: enable it with `DEBUG=connect-mongoose-session`. */
export const log = createDebug('connect-mongoose-session');

// The HTTP load generator, run as a second process so it does not share the store's CPU time.
// Each connection is one user: it sends back the session cookie it was last given. It prints
// `start` as the load begins, then its figures as one JSON line.
import autocannon from 'autocannon';

const [url, connections, seconds] = [
  process.argv[2],
  Number(process.argv[3]),
  Number(process.argv[4]),
];

process.stdout.write('start\n');
const cpu = process.cpuUsage();
autocannon({
  url,
  connections,
  duration: seconds,
  // Not `requests` with a context: autocannon resets the context whenever its list of
  // requests starts over, that is before every request with a list of one, so a cookie kept
  // there was never sent and every request opened a new session. A connection's headers last.
  setupClient: (client) => {
    let cookie: string | undefined;
    client.on('headers', (info) => {
      // The listener is given the parser's record, whose `headers` are the raw name/value list
      // (@types/autocannon says otherwise).
      const raw = (info as unknown as { headers: string[] }).headers;
      for (let i = 0; i < raw.length; i += 2) {
        if (raw[i].toLowerCase() !== 'set-cookie') continue;
        const sent = raw[i + 1].split(';')[0];
        if (sent !== cookie) {
          cookie = sent;
          client.setHeaders({ cookie });
        }
        break;
      }
    });
  },
}).then((result) => {
  const used = process.cpuUsage(cpu);
  process.stdout.write(
    `${JSON.stringify({
      reqPerSec: result.requests.average,
      requests: result.requests.total,
      p50: result.latency.p50,
      p99: result.latency.p99,
      errors: result.errors + result.non2xx,
      loadCpuUs: used.user + used.system,
    })}\n`,
  );
});

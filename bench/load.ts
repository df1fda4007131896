// The HTTP load generator, run as a second process so it does not share the store's CPU time.
// Each connection is one user: it keeps the session cookie it was given.
import autocannon from 'autocannon';

const [url, connections, seconds] = [
  process.argv[2],
  Number(process.argv[3]),
  Number(process.argv[4]),
];

autocannon({
  url,
  connections,
  duration: seconds,
  requests: [
    {
      setupRequest: (req, context: { cookie?: string }) => ({
        ...req,
        headers: { ...req.headers, ...(context.cookie ? { cookie: context.cookie } : {}) },
      }),
      onResponse: (
        _status,
        _body,
        context: { cookie?: string },
        headers?: Record<string, string | string[] | undefined>,
      ) => {
        const set = headers?.['set-cookie'];
        const first = Array.isArray(set) ? set[0] : set;
        if (first) context.cookie = first.split(';')[0];
      },
    },
  ],
}).then((result) => {
  process.stdout.write(
    `${JSON.stringify({
      reqPerSec: result.requests.average,
      requests: result.requests.total,
      p50: result.latency.p50,
      p99: result.latency.p99,
      errors: result.errors + result.non2xx,
    })}\n`,
  );
});

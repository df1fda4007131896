// The demo's HTML: escaping and the one page layout every page shares.

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** `s` with every character that means something in HTML text or attributes escaped. */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);

// Readable on a phone: one narrow column, system fonts, tap-sized buttons, and long words
// (user agents, names without spaces) wrapped instead of widening the page.
const CSS = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232a;background:#f6f7f9}
main{max-width:40rem;margin:0 auto;padding:1rem;overflow-wrap:anywhere}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
a{color:#0b5cad}
nav{margin:1rem 0;color:#555}
.flash{padding:.5rem .75rem;border-radius:6px;background:#e6f2ea;border:1px solid #a9d3b5}
.flash.error{background:#fbeaea;border-color:#e3a6a6}
.flash.notice{background:#fff6dd;border-color:#e8c96a}
.stats{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}
.stat{flex:1 1 10rem;margin:0;background:#fff;border:1px solid #d5d9e0;border-radius:8px;padding:.75rem}
.num{display:block;font-size:2rem;font-weight:700;line-height:1.2}
a.cta{display:inline-block;padding:.6rem 1.1rem;border-radius:6px;background:#0b5cad;color:#fff;font-weight:600;text-decoration:none}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin:1rem 0}
.actions form.inline{margin:0}
input[type=text]{width:100%;font:inherit;padding:.6rem;border:1px solid #aab;border-radius:6px}
button,input[type=submit]{font:inherit;min-height:44px;padding:.5rem 1rem;border:1px solid #0b5cad;border-radius:6px;background:#0b5cad;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#0b5cad}
form.inline{display:inline-block;margin:.25rem .5rem .25rem 0}
ul.sessions{list-style:none;padding:0;margin:0 0 1rem}
ul.sessions li{background:#fff;border:1px solid #d5d9e0;border-radius:8px;padding:.75rem;margin:.5rem 0}
ul.sessions li.current{border-color:#0b5cad;box-shadow:0 0 0 1px #0b5cad}
ul.sessions li form.inline{margin:.5rem 0 0}
.device{font-size:1.05rem}
.badge{display:inline-block;font-size:.8rem;font-weight:600;color:#fff;background:#0b5cad;border-radius:999px;padding:0 .5rem;margin-left:.25rem}
.muted{color:#59636e;font-size:.9rem}
time{white-space:nowrap}
`;

/** The parts of a page; `body` is HTML that the caller has already escaped. */
export interface PageParts {
  /** The document title, as text. */
  title: string;
  /** The page's content, as HTML. */
  body: string;
}

/** A whole HTML document: charset, viewport, the shared CSS, then `body`. */
export function layout({ title, body }: PageParts): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style></head>
<body><main>
${body}
</main></body></html>`;
}

/** Flash messages as paragraphs, escaped; `kind` is an extra class such as `error`. */
export function flashes(messages: string[], kind?: string): string {
  const cls = kind === undefined ? 'flash' : `flash ${kind}`;
  return messages.map((m) => `<p class="${cls}">${escapeHtml(m)}</p>`).join('\n');
}

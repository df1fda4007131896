import type { Request } from 'express';

declare module 'express-session' {
  interface SessionData {
    /** Flash messages by type, kept until they are read. */
    flash: Record<string, string[]>;
  }
}

/** Queues a flash message of `type` for the next page this session sees. */
export function flash(req: Request, type: string, message: string): void {
  const all = req.session.flash ?? {};
  all[type] = [...(all[type] ?? []), message];
  req.session.flash = all;
}

/** Takes (and removes) the flash messages of `type`. */
export function takeFlash(req: Request, type: string): string[] {
  const messages = req.session.flash?.[type] ?? [];
  if (req.session.flash) delete req.session.flash[type];
  return messages;
}

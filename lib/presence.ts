import type { SessionData } from 'express-session';
import type { SessionCodec } from './codec.js';
import { deviceOf, type MetadataOption, sameDevice } from './devices.js';
import type { Presence } from './document.js';
import type { SessionRecord } from './record.js';

/**
 * What a write of session `sid` records beside it, at `now` (epoch ms): when it was seen,
 * its creation when the stored document may lack one, and its device (sealed as its data is)
 * when `metadata` asks for one and it differs from the one `record` knows.
 */
export function presenceOf(
  metadata: MetadataOption | undefined,
  codec: SessionCodec,
  sid: string,
  session: SessionData,
  record: SessionRecord | undefined,
  now: number,
): Presence {
  const seenAt = new Date(now);
  const device = metadata && deviceOf(session, metadata);
  return {
    seenAt,
    // Read without one (a peer's or an old document): its life counts from this write.
    createdAt: record !== undefined && record.createdAt === undefined ? seenAt : undefined,
    device:
      device !== undefined && !sameDevice(device, record?.device)
        ? codec.sealDevice(sid, device)
        : undefined,
  };
}

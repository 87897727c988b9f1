// Observing an E2eeClient from a test: the messages it delivers to the app.
import type { E2eeClient } from '../../src/index.js';
import { isSentinel } from './drain.js';

export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Collects the bodies of every one-to-one / other-device / group message a client gets (drain sentinels left out). */
export function collect(client: E2eeClient): { one2one: string[]; other: string[]; group: string[] } {
  const out = { one2one: [] as string[], other: [] as string[], group: [] as string[] };
  client.on('one2one-message', (e) => {
    if (!isSentinel(text(e.message.body))) out.one2one.push(text(e.message.body));
  });
  client.on('other-device-message', (e) => {
    if (!isSentinel(text(e.message.body))) out.other.push(text(e.message.body));
  });
  client.on('group-message', (e) => {
    out.group.push(text(e.message.body));
  });
  return out;
}

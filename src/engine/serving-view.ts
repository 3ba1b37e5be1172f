/**
 * S7: a side-by-side target seen whole. Status, reconcile, the brake's "already out" count and
 * the report ask about a target, not a slot: its health is the serving slot's, and it is in
 * traffic when either slot's server is. A slot view (`target.slot` set) passes through as is.
 */
import { slotTarget } from '../model/slots';
import type { Slot, Target } from '../model/types';
import type { Traffic, TrafficStatus, Transport } from './ports';
import { slotsOf } from './slot-steps';

const RANK: Record<TrafficStatus, number> = {
  none: 6,
  up: 5,
  drain: 4,
  down: 3,
  maint: 2,
  unknown: 1,
};

/** Pure: a target's traffic status from its two slots' — the one closest to serving. */
export function bestStatus(a: TrafficStatus, b: TrafficStatus): TrafficStatus {
  return RANK[a] >= RANK[b] ? a : b;
}

export function servingView(
  transport: Transport,
  traffic: Traffic,
): { transport: Transport; traffic: Traffic } {
  const servingSlot = async (target: Target, signal?: AbortSignal): Promise<Slot> =>
    slotsOf(await transport.probe(target, signal)).serving ?? 'a';

  const viewTransport: Transport = {
    probe: (t, s) => transport.probe(t, s),
    ...(transport.connect
      ? { connect: (t: Target, s?: AbortSignal) => transport.connect!(t, s) }
      : {}),
    lock: (t, o, s) => transport.lock(t, o, s),
    unlock: (t, o) => transport.unlock(t, o),
    download: (t, p, s) => transport.download(t, p, s),
    install: (t, v, s, o) => transport.install(t, v, s, o),
    async health(target, signal) {
      if (target.slot) return transport.health(target, signal);
      return transport.health(slotTarget(target, await servingSlot(target, signal)), signal);
    },
    ...(transport.serve
      ? {
          serve: (
            t: Target,
            v: string,
            k: number,
            s?: AbortSignal,
            o?: Parameters<NonNullable<Transport['serve']>>[4],
          ) => transport.serve!(t, v, k, s, o),
        }
      : {}),
    close: () => transport.close(),
  };

  const viewTraffic: Traffic = {
    name: traffic.name,
    async status(target) {
      if (target.slot) return traffic.status(target);
      const [a, b] = await Promise.all([
        traffic.status(slotTarget(target, 'a')),
        traffic.status(slotTarget(target, 'b')),
      ]);
      return bestStatus(a, b);
    },
    async markdown(target, signal) {
      if (target.slot) return traffic.markdown(target, signal);
      return traffic.markdown(slotTarget(target, await servingSlot(target, signal)), signal);
    },
    async markup(target, signal) {
      if (target.slot) return traffic.markup(target, signal);
      return traffic.markup(slotTarget(target, await servingSlot(target, signal)), signal);
    },
    close: () => traffic.close(),
  };
  return { transport: viewTransport, traffic: viewTraffic };
}

/**
 * S7, side-by-side: the install and markup steps of a target with two slots. Install starts the
 * version in the idle slot while the other serves; verify checks that slot on its own port;
 * markup is the flip — the new slot's server in, the old one drained and out, then the host
 * records which slot serves and keeps the old one warm.
 */
import { DependencyDownError, StepError } from '../model/errors';
import { formatMs } from '../model/text';
import { DEFAULT_KEEP_WARM_MS, otherSlot, slotTarget } from '../model/slots';
import type { Slot, Target } from '../model/types';
import type { Deployment, TargetRecord } from './ledger';
import type { HostProbe, LockOwner, Ports } from './ports';

interface SlotContext {
  ports: Pick<Ports, 'transport' | 'traffic'>;
  signal: AbortSignal;
  protect?: readonly string[];
  /** What the host said under this chain's host lock (see ChainContext.seen). */
  seen?: ChainSeen;
}

/** A chain's view of its host: what it said under the lock, and the lock itself. */
export interface ChainSeen {
  probe?: HostProbe;
  /** The host lock this chain holds: the flip's host half releases it in its round trip. */
  lock?: LockOwner;
  /** Released with the flip: the chain has nothing left to unlock. */
  unlocked?: boolean;
}

/** The host's slots: as this chain last saw them under its host lock, else asked now. */
async function hostView(ctx: SlotContext, base: Target): Promise<HostProbe> {
  const known = ctx.seen?.probe;
  if (known) return known;
  const probe = await ctx.ports.transport.probe(base, ctx.signal);
  if (ctx.seen) ctx.seen.probe = probe;
  return probe;
}

/**
 * Pure: the slot in traffic and the idle one. A host that never flipped serves from slot a when
 * anything is installed (an in-place host converts in place); a fresh host starts in slot a.
 */
export function slotsOf(probe: HostProbe): { serving: Slot | null; idle: Slot } {
  const serving = probe.serving ?? (probe.current !== null ? 'a' : null);
  return { serving, idle: serving ? otherSlot(serving) : 'a' };
}

/**
 * Pure: the slot that holds `version` for this release — the idle one before the flip, the
 * serving one after it (a markup pressed again) — or null.
 */
export function slotHolding(probe: HostProbe, version: string): Slot | null {
  const { serving, idle } = slotsOf(probe);
  if (probe.slots?.[idle]?.version === version) return idle;
  if (serving && (probe.slots?.[serving]?.version ?? probe.current) === version) return serving;
  return null;
}

/** The slot this release started, as a target of its own (its port, its LB server). */
export async function newSlotOf(
  ctx: SlotContext,
  base: Target,
  version: string,
): Promise<{ next: Target; probe: HostProbe }> {
  const probe = await hostView(ctx, base);
  const slot = slotHolding(probe, version);
  if (!slot) {
    throw new StepError(
      `no slot of ${base.id} holds ${version} (serving: ${slotsOf(probe).serving ?? 'none'}): the install step starts it; retry runs it again`,
    );
  }
  return { next: slotTarget(base, slot), probe };
}

/**
 * Install, side-by-side: the idle slot's server is made sure to be out of traffic (so the new
 * version takes none before it is verified), then the version starts in that slot.
 */
export async function startSlot(
  ctx: SlotContext,
  base: Target,
  d: Pick<Deployment, 'version'>,
): Promise<string> {
  const { transport, traffic } = ctx.ports;
  const probe = await hostView(ctx, base);
  const { serving, idle } = slotsOf(probe);
  const next = slotTarget(base, idle);
  if (traffic.name !== 'none') {
    const lb = await traffic.status(next).catch(() => 'unknown' as const);
    if (lb === 'up' || lb === 'drain' || lb === 'down') await traffic.markdown(next, ctx.signal);
  }
  if (ctx.seen) delete ctx.seen.probe;
  const { alreadyRunning } = await transport.install(next, d.version, ctx.signal, {
    ...(ctx.protect ? { protect: ctx.protect } : {}),
    probe,
  });
  // The idle slot now holds the version (started, or still running warm).
  if (ctx.seen) {
    ctx.seen.probe = {
      ...probe,
      slots: { ...probe.slots, [idle]: { version: d.version, running: true } },
    };
  }
  const beside = serving ? ` beside slot ${serving}, which keeps serving` : '';
  return alreadyRunning
    ? `slot ${idle} (port ${next.port}) still runs ${d.version}, warm: nothing to start`
    : `started ${d.version} in slot ${idle} (port ${next.port})${beside}`;
}

/**
 * Markup (and the bastion's bake), side-by-side: the flip. The new slot's server goes in, the
 * old one is drained to 0 sessions and taken out, then the host names the new slot as serving
 * and keeps the old one warm (or stops it, keepWarm 0). A switch the LB did not do (down, or
 * skipped degraded) fails as an outage: the chain leaves the target verified, not blamed.
 */
export async function flip(
  ctx: SlotContext,
  base: Target,
  d: Pick<Deployment, 'version' | 'config'>,
  record: TargetRecord,
): Promise<string> {
  const { transport, traffic } = ctx.ports;
  const { next } = await newSlotOf(ctx, base, d.version);
  const prev = slotTarget(base, otherSlot(next.slot!));
  const inn = await traffic.markup(next, ctx.signal);
  // A switch the LB skipped (degraded) switched nothing: never a success (the engine refuses to
  // run side-by-side degraded; this holds whatever Traffic it is given).
  if (inn) throw notSwitched(next, d.version, inn.skipped);
  if (!transport.serve) throw new StepError(`the ${base.id} transport cannot run side-by-side`);
  const keepWarmMs = d.config.keepWarmMs ?? DEFAULT_KEEP_WARM_MS;
  try {
    const out = await traffic.markdown(prev, ctx.signal);
    if (out) throw notSwitched(next, d.version, out.skipped);
    delete record.lbUnknown;
    const seen = ctx.seen;
    if (seen) delete seen.probe;
    const served = await transport.serve(
      next,
      d.version,
      keepWarmMs,
      ctx.signal,
      seen?.lock ? { unlock: seen.lock } : undefined,
    );
    if (seen && served?.unlocked) {
      seen.unlocked = true;
      delete seen.lock;
    }
  } catch (err) {
    // Cut after the new slot went in (a hard stop, the LB or the host lost): never leave the LB
    // disagreeing with the host. Host truth decides (settleSlots); if the host cannot be asked,
    // the host still names prev serving as far as we know: prev back in, next out.
    await settleSlots(ctx.ports, base).catch(() =>
      traffic
        .markup(prev)
        .then(() => traffic.markdown(next))
        .catch(() => undefined),
    );
    throw err;
  }
  const where =
    traffic.name === 'none' ? 'serves (no load balancer)' : `in traffic (${traffic.name})`;
  const old =
    keepWarmMs > 0
      ? `slot ${prev.slot} out, kept warm for ${formatMs(keepWarmMs)}`
      : `slot ${prev.slot} out and stopped`;
  return `flipped: slot ${next.slot} (port ${next.port}) ${where} on ${d.version}; ${old}`;
}

function notSwitched(next: Target, version: string, skipped: string): DependencyDownError {
  return new DependencyDownError(
    `${skipped}: slot ${next.slot} runs ${version}, verified, but the switch did not happen`,
  );
}

const IN_TRAFFIC = new Set(['up', 'down']);

/**
 * A flip cut in the middle (kill -9, a hard stop, the LB lost between its two halves) can leave
 * both slots' servers in traffic, or the new one in and the old one out before the host named the
 * new slot serving. Host truth decides: the slot the host names as serving goes (or stays) in,
 * the other one out — the state before the flip, which a retry or a new release flips again.
 * Returns what it did, or null when the LB already agrees with the host. A serving slot that is
 * not healthy is not put in: then nothing is changed and the reason is returned in `left`.
 */
export async function settleSlots(
  ports: Pick<Ports, 'transport' | 'traffic'>,
  base: Target,
  signal?: AbortSignal,
): Promise<{ did: string } | { left: string } | null> {
  const { transport, traffic } = ports;
  if (traffic.name === 'none') return null;
  const probe = await transport.probe(base, signal);
  const serves = slotsOf(probe).serving ?? 'a';
  const keep = slotTarget(base, serves);
  const other = slotTarget(base, otherSlot(serves));
  const [keepSt, otherSt] = await Promise.all([traffic.status(keep), traffic.status(other)]);
  if (!IN_TRAFFIC.has(otherSt) && otherSt !== 'drain') return null;
  if (!IN_TRAFFIC.has(keepSt)) {
    const health = await transport.health(keep, signal);
    if (!health.ok) {
      return {
        left: `slot ${other.slot} is in traffic, but slot ${keep.slot}, which the host names as serving, is not healthy (${health.detail})`,
      };
    }
    const skipped = await traffic.markup(keep, signal);
    if (skipped) return { left: skipped.skipped };
  }
  const skipped = await traffic.markdown(other, signal);
  if (skipped) return { left: skipped.skipped };
  return {
    did: `flip cut in the middle settled by host truth: slot ${keep.slot} (${probe.slots?.[serves]?.version ?? probe.current ?? 'its version'}) serves, slot ${other.slot} taken out of traffic`,
  };
}

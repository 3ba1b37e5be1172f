/**
 * S7 × F5: side-by-side without its load balancer. A side-by-side host moves to a new version
 * only when the load balancer switches it, so "going on without the LB" (`--degrade lb`) could
 * switch nothing: such an operation is refused before any host is touched. A switch the LB could
 * not do (lost mid-release) leaves the new slot started and verified beside the serving one: the
 * release names those hosts and the one command that switches them once the LB answers. Pure.
 */
import type { Deployment } from './ledger';
import type { WayBackCommand } from './way-back';

/**
 * What the load balancer's outage error says in a side-by-side group instead of "go on with
 * `--degrade lb`" (BreakerOptions.outageAdvice): the engine adds the hosts and the command.
 */
export const SIDE_BY_SIDE_OUTAGE_ADVICE =
  'Side-by-side switches hosts only through it: nothing switches until it answers.';

/** The operations that take a lock on the group and may reach the load balancer. */
export type LbOperation = 'deploy' | 'bake' | 'continue' | 'retry' | 'rollback';

/**
 * Why `op` is refused, or null. `flag`: how the LB was degraded (`--degrade lb`,
 * `traffic.degraded`), undefined when it was not. `sideBySide`: the strategy of what `op` runs —
 * the release in progress for bake, continue and retry, the group file's for deploy and rollback.
 */
export function degradedRefusal(
  op: LbOperation,
  flag: string | undefined,
  sideBySide: boolean,
  command: (c: WayBackCommand | 'status') => string,
): string | null {
  if (!flag || !sideBySide) return null;
  const off =
    flag === 'traffic.degraded'
      ? 'set traffic.degraded: false in the group file, then run'
      : 'run it without --degrade lb';
  const what = op === 'rollback' ? 'rollback' : 'release';
  const resume =
    op === 'bake' || op === 'continue'
      ? ` (verified hosts are switched without a restart); or ${command('stop')} ends the release, every host serving what it serves now`
      : '';
  return (
    `side-by-side switches a host to another version only in the load balancer: without it no ` +
    `host could move and the ${what} would switch nothing. Nothing was started. Once the load ` +
    `balancer answers, ${off}: ${command(op)}${resume}. ${command('status')} shows what each host serves.`
  );
}

/**
 * The hosts of a side-by-side release whose new slot is started and verified but not switched
 * to, because the load balancer did not take the switch (a markup or bake that did not complete).
 */
export function pendingSwitches(d: Pick<Deployment, 'targets'>): string[] {
  return Object.values(d.targets)
    .filter(
      (t) =>
        t.lbUnknown !== undefined && (t.state === 'VERIFY_SUCCESS' || t.state === 'BAKE_FAILURE'),
    )
    .map((t) => t.id);
}

/**
 * What a side-by-side release says when the load balancer went away under it: the hosts waiting
 * for their switch and the one command that does it. There is no "go on without it" here.
 */
export function sideBySideOutageAdvice(
  d: Pick<Deployment, 'phase' | 'targets'>,
  op: 'bake' | 'continue',
  command: (c: WayBackCommand | 'status') => string,
): string {
  const pending = pendingSwitches(d);
  const which = pending.length
    ? ` Verified, not in traffic (the load balancer was unavailable): ${pending.join(', ')}.`
    : '';
  return (
    `The release waits in phase ${d.phase}.${which} Once the load balancer answers, ` +
    `${command(op)} switches ${pending.length === 1 ? 'it' : 'them'} without a restart and goes on; ` +
    `${command('stop')} ends the release, every host serving what it serves now. Side-by-side ` +
    `cannot go on without the load balancer: nothing would switch.`
  );
}

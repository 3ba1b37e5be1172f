import type { Issue } from '../policy';
import { configStep } from '../layers';
import type { ImageConfig } from '../../../registry/client';

/** non-root: the process does not run as root (USER, checked against the image's /etc/passwd). */

/** uid for a user name from an /etc/passwd text. */
export function passwdUid(passwd: string, name: string): number | undefined {
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined && /^\d+$/.test(f[2])) return Number(f[2]);
  }
  return undefined;
}

export function checkUser(config: ImageConfig, passwd?: string): Issue[] {
  const user = (config.config?.User ?? '').trim();
  const where = configStep(config.history, /\bUSER\b/);
  const fix =
    'End the final stage with `USER 10001:10001` (numeric), after the steps that need root; rollgate’s standard Containerfiles do.';
  if (user === '') {
    return [
      {
        rule: 'non-root',
        message: 'no USER is set: the process runs as root',
        layer: 'image config (no USER step)',
        fix,
      },
    ];
  }
  const name = user.split(':')[0]!;
  if (/^\d+$/.test(name)) {
    return Number(name) === 0
      ? [{ rule: 'non-root', message: `USER ${user} is root (uid 0)`, layer: where, fix }]
      : [];
  }
  if (name === 'root')
    return [{ rule: 'non-root', message: `USER ${user} is root`, layer: where, fix }];
  const uid = passwd === undefined ? undefined : passwdUid(passwd, name);
  if (uid === 0) {
    return [
      { rule: 'non-root', message: `USER ${user} has uid 0 in /etc/passwd`, layer: where, fix },
    ];
  }
  if (uid === undefined) {
    return [
      {
        rule: 'non-root',
        message: `USER ${user} is not in the image's /etc/passwd: its uid cannot be checked`,
        layer: where,
        fix: 'Use a numeric uid:gid (e.g. `USER 10001:10001`), which needs no /etc/passwd entry.',
      },
    ];
  }
  return [];
}

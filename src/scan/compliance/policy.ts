import { InputError } from '../../model/errors';

/**
 * Image compliance (B4), read from the registry — the image as it will run, not the build's
 * intentions: the manifest, the config and every layer.
 *
 *  - non-root: the process does not run as root;
 *  - no-secrets: no passwords, tokens or keys in the environment, the labels or any layer's
 *    files (a file deleted in a later layer is still in the image);
 *  - base-image: the base image is on the allowed list and pinned by digest;
 *  - no-privileged: the group's container run options ask for no privileges.
 *
 * Each rule is `fail`, `warn` or `off`; each finding names the rule, the layer and the fix.
 */

export type RuleId = 'non-root' | 'no-secrets' | 'base-image' | 'no-privileged';
export type RuleMode = 'fail' | 'warn' | 'off';

export const RULES: Record<RuleId, { title: string; help: string }> = {
  'non-root': {
    title: 'The process does not run as root',
    help: 'A process that breaks out of a container as uid 0 is root on the host (without user namespaces).',
  },
  'no-secrets': {
    title: 'No passwords, tokens or keys in the image',
    help: 'Anyone who can pull the image can read its environment, labels and every layer.',
  },
  'base-image': {
    title: 'Base image allowed and pinned by digest',
    help: 'Bases come from trusted sources; a digest pins exactly what was reviewed.',
  },
  'no-privileged': {
    title: 'No privileged run options',
    help: 'Privileged containers, added capabilities and host namespaces hand the host to the app.',
  },
};

export const RULE_IDS = Object.keys(RULES) as RuleId[];

/** How the group runs the container (from its group file), checked by no-privileged. */
export interface ContainerRunSpec {
  privileged?: boolean;
  capAdd?: string[];
  securityOpt?: string[];
  user?: string;
  network?: string;
  pid?: string;
  ipc?: string;
  userns?: string;
  devices?: string[];
  /** `host:container[:opts]` */
  volumes?: string[];
  /** Raw `docker run` / `podman run` options, checked for the same things. */
  args?: string[];
}

export interface CompliancePolicy {
  /** Mode per rule (default fail for every rule). */
  rules?: Partial<Record<RuleId, RuleMode>>;
  /** Allowed base repositories: `registry/repo`, `registry/ns/*`, `registry/ns/**`. */
  allowedBases?: string[];
  runSpec?: ContainerRunSpec;
  /** Files larger than this are listed by name only (default 1 MiB). */
  maxFileBytes?: number;
  /** Paths (regular expressions) not to read, e.g. test fixtures with fake keys. */
  ignorePaths?: string[];
}

export interface ComplianceFinding {
  rule: RuleId;
  level: 'fail' | 'warn';
  message: string;
  /** Where: `layer 3/7 sha256:… (COPY … in /app)`, `image config (ENV …)`, `run spec`. */
  layer: string;
  layerDigest?: string;
  path?: string;
  fix: string;
}

export interface ComplianceResult {
  image: string;
  digest: string;
  findings: ComplianceFinding[];
  /** Rules that ran (not off). */
  checked: RuleId[];
  passed: boolean;
  stats: { layers: number; files: number; filesRead: number; bytes: number; ms: number };
}

export function ruleModes(policy: CompliancePolicy): Record<RuleId, RuleMode> {
  const out = {} as Record<RuleId, RuleMode>;
  for (const id of RULE_IDS) {
    const mode = policy.rules?.[id] ?? 'fail';
    if (!['fail', 'warn', 'off'].includes(mode)) {
      throw new InputError(`rules.${id}`, `"${String(mode)}" is not fail, warn or off`);
    }
    out[id] = mode;
  }
  for (const id of Object.keys(policy.rules ?? {})) {
    if (!RULE_IDS.includes(id as RuleId)) {
      throw new InputError(`rules.${id}`, `unknown rule; known: ${RULE_IDS.join(', ')}`);
    }
  }
  return out;
}

/** A finding before the rule's mode gives it a level. */
export type Issue = Omit<ComplianceFinding, 'level'>;

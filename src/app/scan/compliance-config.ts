import { parse as parseYaml } from 'yaml';
import { InputError } from '../../model/errors';
import {
  RULE_IDS,
  type CompliancePolicy,
  type ContainerRunSpec,
  type RuleId,
  type RuleMode,
} from '../../scan/compliance/policy';

const RUN_SPEC_BOOLEANS = ['privileged'] as const;
const RUN_SPEC_STRINGS = ['user', 'network', 'pid', 'ipc', 'userns'] as const;
const RUN_SPEC_LISTS = ['capAdd', 'securityOpt', 'devices', 'volumes', 'args'] as const;
const POLICY_KEYS = ['rules', 'allowedBases', 'runSpec', 'maxFileBytes', 'ignorePaths'];

function stringList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new InputError(where, 'must be a list of strings');
  }
  return value as string[];
}

/**
 * A compliance config file (YAML or JSON):
 *
 *     rules: { non-root: fail, no-secrets: fail, base-image: warn, no-privileged: off }
 *     allowedBases: [registry.corp/base/*]
 *     runSpec: { user: "10001", capAdd: [] }      # or args: [--cap-add, NET_ADMIN]
 *     maxFileBytes: 1048576
 *     ignorePaths: ["^usr/share/doc/"]
 */
export function parseComplianceConfig(text: string, field: string): CompliancePolicy {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new InputError(field, `not YAML: ${(err as Error).message}`);
  }
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new InputError(field, 'must be a mapping');
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!POLICY_KEYS.includes(key)) {
      throw new InputError(`${field}: ${key}`, `unknown key (${POLICY_KEYS.join(', ')})`);
    }
  }
  const policy: CompliancePolicy = {};
  if (r.rules !== undefined) {
    if (typeof r.rules !== 'object' || r.rules === null || Array.isArray(r.rules)) {
      throw new InputError(`${field}: rules`, 'must be a mapping of rule → fail, warn or off');
    }
    const rules: Partial<Record<RuleId, RuleMode>> = {};
    for (const [id, mode] of Object.entries(r.rules as Record<string, unknown>)) {
      if (!RULE_IDS.includes(id as RuleId)) {
        throw new InputError(
          `${field}: rules.${id}`,
          `unknown rule; known: ${RULE_IDS.join(', ')}`,
        );
      }
      if (mode !== 'fail' && mode !== 'warn' && mode !== 'off') {
        throw new InputError(`${field}: rules.${id}`, `"${String(mode)}" is not fail, warn or off`);
      }
      rules[id as RuleId] = mode;
    }
    policy.rules = rules;
  }
  if (r.allowedBases !== undefined) {
    policy.allowedBases = stringList(r.allowedBases, `${field}: allowedBases`);
  }
  if (r.ignorePaths !== undefined) {
    policy.ignorePaths = stringList(r.ignorePaths, `${field}: ignorePaths`);
    // Checked here, before the scan starts, rather than by the rule mid-scan.
    policy.ignorePaths.forEach((p, i) => {
      try {
        new RegExp(p);
      } catch {
        throw new InputError(`${field}: ignorePaths[${i}]`, `"${p}" is not a regular expression`);
      }
    });
  }
  if (r.maxFileBytes !== undefined) {
    if (typeof r.maxFileBytes !== 'number' || !(r.maxFileBytes > 0)) {
      throw new InputError(`${field}: maxFileBytes`, 'must be a positive number of bytes');
    }
    policy.maxFileBytes = r.maxFileBytes;
  }
  if (r.runSpec !== undefined) policy.runSpec = parseRunSpec(r.runSpec, `${field}: runSpec`);
  return policy;
}

function parseRunSpec(value: unknown, where: string): ContainerRunSpec {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InputError(where, 'must be a mapping');
  }
  const v = value as Record<string, unknown>;
  const spec: ContainerRunSpec = {};
  for (const [key, item] of Object.entries(v)) {
    if ((RUN_SPEC_BOOLEANS as readonly string[]).includes(key)) {
      if (typeof item !== 'boolean')
        throw new InputError(`${where}.${key}`, 'must be true or false');
      spec.privileged = item;
    } else if ((RUN_SPEC_STRINGS as readonly string[]).includes(key)) {
      if (typeof item !== 'string') throw new InputError(`${where}.${key}`, 'must be a string');
      spec[key as (typeof RUN_SPEC_STRINGS)[number]] = item;
    } else if ((RUN_SPEC_LISTS as readonly string[]).includes(key)) {
      spec[key as (typeof RUN_SPEC_LISTS)[number]] = stringList(item, `${where}.${key}`);
    } else {
      const known = [...RUN_SPEC_BOOLEANS, ...RUN_SPEC_STRINGS, ...RUN_SPEC_LISTS].join(', ');
      throw new InputError(`${where}.${key}`, `unknown key (${known})`);
    }
  }
  return spec;
}

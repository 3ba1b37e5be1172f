import type { Issue } from '../policy';
import { configStep } from '../layers';
import type { ImageConfig } from '../../../registry/client';
import { secretInAssignment } from '../secrets';

/** no-secrets in the image config: the environment and the labels (layer files: layer-scan.ts). */

export function checkEnvAndLabels(config: ImageConfig): Issue[] {
  const issues: Issue[] = [];
  for (const pair of config.config?.Env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq);
    const hit = secretInAssignment(name, pair.slice(eq + 1));
    if (hit) {
      issues.push({
        rule: 'no-secrets',
        message: `environment variable ${name} holds a ${hit.kind}: ${hit.evidence}`,
        layer: configStep(config.history, new RegExp(`\\bENV\\b.*\\b${escapeRe(name)}\\b`)),
        fix: `Remove ${name} from the image (ENV/ARG) and give it to the container at run time from a secret store (group env, mounted file).`,
      });
    }
  }
  for (const [key, value] of Object.entries(config.config?.Labels ?? {})) {
    const hit = secretInAssignment(key, value);
    if (hit) {
      issues.push({
        rule: 'no-secrets',
        message: `label ${key} holds a ${hit.kind}: ${hit.evidence}`,
        layer: configStep(config.history, new RegExp(`\\bLABEL\\b.*${escapeRe(key)}`)),
        fix: `Remove the label ${key}; labels are public metadata.`,
      });
    }
  }
  return issues;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

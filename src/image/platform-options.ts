import { InputError } from '../model/errors';

/**
 * Platform options (B3): shared needs the user picks by name (`tz-shanghai`, `ca-certificates`,
 * `npm-mirror=https://…`) instead of copying the same lines into every `.paas/image-env.sh`.
 * The platform owns them: a fix here reaches every app at its next build.
 *
 * An option contributes Containerfile instructions to the build stage, the final stage or both,
 * and files that the builder stages in a separate build context (`rollgate-platform`), so that
 * nothing is written into the application's own directory.
 */

export type AppKind = 'node' | 'static';

/** Name of the extra build context that holds the options' files. */
export const PLATFORM_CONTEXT = 'rollgate-platform';

/** Where platform files come from on the build machine (the CLI passes the defaults below). */
export interface PlatformHost {
  zoneinfoDir: string;
  caBundle: string;
}

export const DEFAULT_PLATFORM_HOST: PlatformHost = {
  zoneinfoDir: '/usr/share/zoneinfo',
  caBundle: '/etc/ssl/certs/ca-certificates.crt',
};

export type Stage = 'build' | 'final';

export interface PlatformFile {
  /** Absolute path in the image. */
  dest: string;
  /** File on the build machine copied there. */
  hostPath: string;
  stages: Stage[];
}

/**
 * What an option adds. The builder stages every file under `<stage>/<dest>` in the platform
 * context, so all options together cost one COPY and one ENV step per stage (each step of a
 * build costs 50–400 ms even when cached).
 */
export interface OptionContribution {
  files: PlatformFile[];
  /** Environment of the build stage (dependencies and build). */
  buildEnv: Record<string, string>;
  /** Environment of the final image. */
  finalEnv: Record<string, string>;
}

export interface ResolvedPlatformOption extends OptionContribution {
  name: string;
  value?: string;
}

interface OptionSpec {
  summary: string;
  kinds: AppKind[];
  /** What the value after `=` is, when the option takes one. */
  value?: { what: string; check: (v: string) => boolean };
  contribute(kind: AppKind, host: PlatformHost, value: string | undefined): OptionContribution;
}

const URL_VALUE = /^https?:\/\/[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:\/[A-Za-z0-9._~%/-]*)?$/;
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

const SPECS: Record<string, OptionSpec> = {
  'tz-shanghai': {
    summary: 'Time zone Asia/Shanghai (China Standard Time) for the app: TZ and /etc/localtime',
    kinds: ['node', 'static'],
    contribute: (_kind, host) => {
      const hostPath = `${host.zoneinfoDir}/Asia/Shanghai`;
      return {
        files: [
          { dest: '/usr/share/zoneinfo/Asia/Shanghai', hostPath, stages: ['final'] },
          { dest: '/etc/localtime', hostPath, stages: ['final'] },
        ],
        buildEnv: {},
        finalEnv: { TZ: 'Asia/Shanghai' },
      };
    },
  },
  'ca-certificates': {
    summary:
      "The build machine's CA bundle (your company's CAs included) at /etc/ssl/certs, for the build and the app",
    kinds: ['node', 'static'],
    contribute: (kind, host) => {
      const env: Record<string, string> = { SSL_CERT_FILE: CA_BUNDLE };
      if (kind === 'node') env.NODE_EXTRA_CA_CERTS = CA_BUNDLE;
      return {
        files: [{ dest: CA_BUNDLE, hostPath: host.caBundle, stages: ['build', 'final'] }],
        buildEnv: env,
        finalEnv: env,
      };
    },
  },
  'npm-mirror': {
    summary:
      'Install npm dependencies from a private mirror (B1), e.g. npm-mirror=https://npm.corp/',
    kinds: ['node'],
    value: { what: 'an http(s) URL', check: (v) => URL_VALUE.test(v) },
    contribute: (_kind, _host, value) => ({
      files: [],
      buildEnv: { npm_config_registry: value! },
      finalEnv: {},
    }),
  },
};

export interface PlatformOptionInfo {
  name: string;
  summary: string;
  kinds: AppKind[];
  takesValue: boolean;
}

/** The catalogue, for `rollgate build --list-options` and the action's docs. */
export function listPlatformOptions(): PlatformOptionInfo[] {
  return Object.entries(SPECS).map(([name, s]) => ({
    name,
    summary: s.summary,
    kinds: [...s.kinds],
    takesValue: s.value !== undefined,
  }));
}

/**
 * Resolves `name` or `name=value` entries for an app kind. Unknown names, a missing or bad
 * value, an option that does not apply to the kind, and duplicates are input errors.
 */
export function resolvePlatformOptions(
  entries: readonly string[],
  kind: AppKind,
  host: PlatformHost = DEFAULT_PLATFORM_HOST,
  field = 'options',
): ResolvedPlatformOption[] {
  const seen = new Set<string>();
  const out: ResolvedPlatformOption[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const name = eq >= 0 ? entry.slice(0, eq) : entry;
    const value = eq >= 0 ? entry.slice(eq + 1) : undefined;
    const spec = Object.hasOwn(SPECS, name) ? SPECS[name] : undefined;
    if (!spec) {
      throw new InputError(
        field,
        `unknown platform option "${name}"; known: ${Object.keys(SPECS).join(', ')}`,
      );
    }
    if (seen.has(name)) throw new InputError(field, `platform option "${name}" is given twice`);
    seen.add(name);
    if (!spec.kinds.includes(kind)) {
      throw new InputError(field, `platform option "${name}" does not apply to ${kind} apps`);
    }
    if (spec.value) {
      if (value === undefined || !spec.value.check(value)) {
        throw new InputError(
          field,
          `platform option "${name}" needs ${spec.value.what}: ${name}=…`,
        );
      }
    } else if (value !== undefined) {
      throw new InputError(field, `platform option "${name}" takes no value`);
    }
    const resolved: ResolvedPlatformOption = { name, ...spec.contribute(kind, host, value) };
    if (value !== undefined) resolved.value = value;
    out.push(resolved);
  }
  return out;
}

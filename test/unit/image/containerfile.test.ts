import { describe, expect, it } from 'vitest';
import {
  envInstruction,
  finalBaseImage,
  labelInstruction,
  renderContainerfile,
  renderIgnoreFile,
  type ContainerfileInput,
} from '../../../src/image/containerfile';
import { resolvePlatformOptions } from '../../../src/image/platform-options';
import { InputError } from '../../../src/model/errors';

const BASE = `127.0.11.1:15000/rollgate-base/node@sha256:${'b'.repeat(64)}`;
const SHA1 = '1'.repeat(64);
const SHA2 = '2'.repeat(64);
const host = { zoneinfoDir: '/zi', caBundle: '/ca.crt' };

const node = (over: Partial<ContainerfileInput> = {}): ContainerfileInput => ({
  kind: 'node',
  baseImage: BASE,
  hooks: {},
  options: [],
  dependencyCache: 'volume',
  ...over,
});

describe('renderContainerfile: node kind (B2, B3)', () => {
  it('builds in a throw-away stage, installs dependencies before copying the code, runs as 10001', () => {
    const text = renderContainerfile(node({ port: 8080 }));
    const lines = text.split('\n');
    expect(lines.filter((l) => l.startsWith('FROM '))).toEqual([
      `FROM ${BASE} AS build`,
      `FROM ${BASE}`,
    ]);
    const copyDeps = lines.indexOf('COPY package.json package-lock.json* npm-shrinkwrap.json* ./');
    const install = lines.findIndex((l, i) => i > copyDeps && l.startsWith('RUN '));
    const copyAll = lines.indexOf('COPY . .');
    expect(copyDeps).toBeGreaterThan(0);
    expect(install).toBeGreaterThan(copyDeps);
    expect(copyAll).toBeGreaterThan(install);
    expect(text).toContain('npm ci --prefer-offline');
    expect(text).toContain('npm prune --omit=dev');
    expect(text).toContain('npm_config_cache="/rollgate-cache/npm"');
    expect(text).toContain('COPY --from=build /app /app');
    expect(text).toContain('ENV NODE_ENV="production"');
    expect(text).toMatch(/EXPOSE 8080\nUSER 10001:10001\nCMD \["node", "server.js"\]\n$/);
  });

  it('without hooks there is no hook step and nothing loads $ROLLGATE_ENV', () => {
    const text = renderContainerfile(node());
    expect(text).not.toContain('source=.paas');
    expect(text).not.toContain('ROLLGATE_ENV');
    expect(text).not.toContain('build.env');
  });

  it('build-env.sh runs before the dependencies; its $ROLLGATE_ENV reaches the later build steps', () => {
    const text = renderContainerfile(node({ hooks: { buildEnv: SHA1 } }));
    const hook = text.indexOf('source=.paas/build-env.sh');
    expect(hook).toBeGreaterThan(0);
    expect(hook).toBeLessThan(text.indexOf('COPY package.json'));
    // The hook's sha256 is in the step's text: a changed hook misses the layer cache even
    // though it is bind-mounted (buildah does not hash bind mounts).
    expect(text).toContain(`ROLLGATE_HOOK=sha256:${SHA1}`);
    expect(text.match(/set -a; \. \/rollgate\/build\.env; set \+a;/g)).toHaveLength(2);
  });

  it('image-env.sh runs in the final stage, as root, before the app is copied and USER is set', () => {
    const text = renderContainerfile(node({ hooks: { imageEnv: SHA2 } }));
    const final = text.slice(text.lastIndexOf('FROM '));
    const hook = final.indexOf('source=.paas/image-env.sh');
    expect(hook).toBeGreaterThan(0);
    expect(hook).toBeLessThan(final.indexOf('COPY --from=build'));
    expect(hook).toBeLessThan(final.indexOf('USER '));
    expect(final).toContain(`ROLLGATE_HOOK=sha256:${SHA2}`);
    // bind-mounted, not COPY'd: the script itself is not left in the image
    expect(final).not.toMatch(/COPY .*image-env/);
  });

  it('platform options: one COPY of the staged files and one merged ENV per stage', () => {
    const options = resolvePlatformOptions(
      ['tz-shanghai', 'ca-certificates', 'npm-mirror=https://npm.corp.example/'],
      'node',
      host,
    );
    const text = renderContainerfile(node({ options }));
    const [build, final] = text.split(/\n\nFROM /) as [string, string];
    expect(build).toContain('COPY --from=rollgate-platform build/ /');
    expect(build).toContain('npm_config_registry="https://npm.corp.example/"');
    expect(build).not.toContain('TZ=');
    expect(final).toContain('COPY --from=rollgate-platform final/ /');
    expect(final).toMatch(
      /ENV NODE_ENV="production" TZ="Asia\/Shanghai" SSL_CERT_FILE="\/etc\/ssl\/certs\/ca-certificates.crt" NODE_EXTRA_CA_CERTS=/,
    );
    expect(final).not.toContain('npm_config_registry');
    expect(text.match(/^ENV /gm)).toHaveLength(2);
  });

  it('dependency cache modes: BuildKit cache mount, host volume, or removed after use', () => {
    expect(renderContainerfile(node({ dependencyCache: 'cache-mount' }))).toContain(
      'RUN --mount=type=cache,id=rollgate-deps,target=/rollgate-cache,sharing=locked set -e;',
    );
    expect(renderContainerfile(node({ dependencyCache: 'volume' }))).not.toContain('type=cache');
    expect(renderContainerfile(node({ dependencyCache: 'none' }))).toContain(
      '; rm -rf /rollgate-cache',
    );
  });

  it('labels go in one last LABEL step, quoted', () => {
    const text = renderContainerfile(
      node({ labels: { 'org.opencontainers.image.revision': 'abc', 'x.y': 'say "hi" $HOME' } }),
    );
    expect(text.trimEnd().split('\n').slice(-2)).toEqual([
      'LABEL org.opencontainers.image.revision="abc" \\',
      '      x.y="say \\"hi\\" \\$HOME"',
    ]);
  });

  it('a custom entry and user', () => {
    const text = renderContainerfile(node({ node: { entry: 'dist/main.js' }, user: '2000:2000' }));
    expect(text).toContain('USER 2000:2000');
    expect(text).toContain('CMD ["node", "dist/main.js"]');
  });
});

describe('renderContainerfile: static kind', () => {
  const input: ContainerfileInput = {
    kind: 'static',
    baseImage: BASE,
    hooks: { buildEnv: SHA1, imageEnv: SHA2 },
    options: [],
    dependencyCache: 'volume',
    static: { binary: 'bin/app', buildCommand: 'make build' },
  };

  it('runs the build command after build-env.sh, checks the binary, ships only it', () => {
    const text = renderContainerfile(input);
    expect(text.indexOf('build-env.sh')).toBeLessThan(text.indexOf('make build'));
    expect(text).toContain('ROLLGATE_CACHE=/rollgate-cache; export ROLLGATE_CACHE; make build');
    expect(text).toContain("RUN test -f 'bin/app'");
    expect(text).toContain('COPY --from=build /src/bin/app /app/app');
    expect(text).toMatch(/USER 10001:10001\nENTRYPOINT \["\/app\/app"\]\n$/);
  });

  it('without a build command the committed binary is used as is', () => {
    const text = renderContainerfile({ ...input, static: { binary: 'bin/app' } });
    expect(text).not.toContain('ROLLGATE_CACHE');
    expect(text).toContain("RUN test -f 'bin/app'");
  });
});

describe('renderContainerfile refuses unsafe input', () => {
  it.each([
    ['root user', node({ user: '0:0' }), /root/],
    ['user name', node({ user: 'app' }), /numeric/],
    ['entry outside the app', node({ node: { entry: '../etc/passwd' } }), /relative path/],
    ['absolute entry', node({ node: { entry: '/x.js' } }), /relative path/],
    ['quote in entry', node({ node: { entry: 'a".js' } }), /relative path/],
    ['bad port', node({ port: 70000 }), /port/],
    ['bad hook digest', node({ hooks: { buildEnv: 'xyz' } }), /sha256/],
    ['base with a space', node({ baseImage: 'a b' }), /image/],
    [
      'multi-line build command',
      {
        ...node(),
        kind: 'static' as const,
        static: { binary: 'app', buildCommand: 'make\nrm -rf /' },
      },
      /one line/,
    ],
    ['static without binary', { ...node(), kind: 'static' as const }, /binary/],
    ['newline in a label', node({ labels: { a: 'x\ny' } }), /one line/],
  ])('%s', (_name, input, message) => {
    expect(() => renderContainerfile(input)).toThrow(InputError);
    expect(() => renderContainerfile(input)).toThrow(message);
  });
});

describe('envInstruction, labelInstruction, renderIgnoreFile', () => {
  it('empty maps make no step', () => {
    expect(envInstruction({})).toEqual([]);
    expect(labelInstruction({})).toEqual([]);
  });

  it('refuses bad variable names', () => {
    expect(() => envInstruction({ 'A-B': '1' })).toThrow(InputError);
  });

  it('ignore file: defaults, the app’s own lines, hooks re-included', () => {
    const text = renderIgnoreFile('node', '*.log\n.paas\n');
    const lines = text.trim().split('\n');
    expect(lines).toContain('node_modules');
    expect(lines).toContain('.git');
    expect(lines.indexOf('.paas')).toBeLessThan(lines.indexOf('!.paas/build-env.sh'));
    expect(lines.at(-1)).toBe('!.paas/image-env.sh');
    expect(renderIgnoreFile('custom')).not.toContain('.paas');
    expect(renderIgnoreFile('static')).not.toContain('node_modules');
  });
});

describe('finalBaseImage: the base of an app’s own Containerfile', () => {
  it.each([
    ['FROM r/a@sha256:1\nRUN x\n', 'r/a@sha256:1'],
    [
      'FROM golang:1.22 AS build\nRUN go build\nFROM r/base:1\nCOPY --from=build /x /x\n',
      'r/base:1',
    ],
    ['FROM r/base:1 AS base\nFROM base AS final\nRUN x\n', 'r/base:1'],
    ['from --platform=linux/amd64 r/b:2 as B\nFROM b\n', 'r/b:2'],
    ['FROM scratch\nCOPY x /x\n', undefined],
    ['ARG BASE=r/a:1\nFROM ${BASE}\n', undefined],
    ['RUN x\n', undefined],
  ])('%j → %s', (text, base) => {
    expect(finalBaseImage(text)).toBe(base);
  });
});

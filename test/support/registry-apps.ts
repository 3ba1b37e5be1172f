/**
 * Sample applications for build-image tests and the bench: the demo app (examples/app/server.js)
 * as a node app with dependencies from the npm mirror double and both .paas hooks, and a
 * "static binary" app (busybox-static stands in for a Go/Rust binary).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const SERVER_JS = fileURLToPath(new URL('../../examples/app/server.js', import.meta.url));

export interface NodeAppOptions {
  /** Dependencies (name → exact version), installed from `mirror`. */
  dependencies?: Record<string, string>;
  /** npm registry URL the lockfile is made against. */
  mirror?: string;
  hooks?: boolean;
  /** Goes into package.json: a new value misses the layer cache from the dependencies on. */
  nonce?: string;
}

/** Writes the node sample app into `dir`; with dependencies, a real lockfile made by npm. */
export async function writeNodeApp(dir: string, options: NodeAppOptions = {}): Promise<void> {
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
  fs.copyFileSync(SERVER_JS, path.join(dir, 'server.js'));
  fs.writeFileSync(
    path.join(dir, 'lib', 'greeting.js'),
    "'use strict';\nmodule.exports = (name) => `hello ${name}`;\n",
  );
  fs.writeFileSync(path.join(dir, 'VERSION'), '1.0.0\n');
  const pkg = {
    name: 'sample-app',
    version: '1.0.0',
    private: true,
    description: `rollgate sample app${options.nonce ? ` (${options.nonce})` : ''}`,
    main: 'server.js',
    scripts: {
      build:
        "node -e \"require('fs').writeFileSync('BUILD_INFO', process.env.BUILD_FLAVOR || 'plain')\"",
    },
    dependencies: options.dependencies ?? {},
  };
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, '.dockerignore'), 'secrets.local\n');
  if (Object.keys(pkg.dependencies).length > 0) {
    if (!options.mirror) throw new Error('dependencies need a mirror');
    await exec(
      'npm',
      [
        'install',
        '--package-lock-only',
        '--no-audit',
        '--no-fund',
        `--registry=${options.mirror}`,
        `--cache=${path.join(dir, '..', '.npm-lock-cache')}`,
      ],
      { cwd: dir, timeout: 120_000 },
    );
  }
  if (options.hooks ?? true) {
    fs.mkdirSync(path.join(dir, '.paas'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, '.paas', 'build-env.sh'),
      [
        '# runs before the code is built; NAME=value lines in $ROLLGATE_ENV reach the build',
        'echo "build-env: preparing"',
        'echo BUILD_FLAVOR=hooked >> "$ROLLGATE_ENV"',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(
      path.join(dir, '.paas', 'image-env.sh'),
      [
        '# runs in the final image as root, before the app is copied in',
        'mkdir -p /var/log/app && chown 10001:10001 /var/log/app',
        'echo "image-env was here" > /etc/app-image-env',
        '',
      ].join('\n'),
    );
  }
}

/**
 * The static app with a Containerfile of its own (kind custom) on `busybox` and no USER: the
 * image runs as root, so it breaks the non-root rule.
 */
export function writeRootApp(dir: string, busybox: string): void {
  writeStaticApp(dir, false);
  fs.writeFileSync(
    path.join(dir, 'Containerfile'),
    `FROM ${busybox}\nCOPY bin/busybox /app/busybox\nCMD ["/app/busybox", "httpd", "-f"]\n`,
  );
}

/** A "static binary" app: bin/busybox (static) is the prebuilt binary. */
export function writeStaticApp(dir: string, hooks = true): void {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(dir, 'bin', 'busybox'));
  if (hooks) {
    fs.mkdirSync(path.join(dir, '.paas'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, '.paas', 'image-env.sh'),
      'echo "static image-env" > /etc/app-image-env\n',
    );
  }
}

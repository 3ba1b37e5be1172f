import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  looksText,
  redact,
  secretFileKind,
  secretInAssignment,
  secretsInText,
  skipPath,
} from '../../../src/scan/compliance/secrets';
import { readTar, TarFormatError, type TarItem } from '../../../src/scan/compliance/tar';

// Test secrets are assembled at run time so that this file itself holds none.
const GH = 'ghp' + '_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
const AWS = 'AKIA' + 'IOSFODNN7EXAMPLE';
const PEM = '-----BEGIN ' + 'RSA PRIVATE KEY-----';

describe('secrets in NAME=value (env, labels)', () => {
  it.each([
    ['DB_PASSWORD', 'hunter2-long', 'secret-named variable'],
    ['GITHUB_TOKEN', GH, 'GitHub token'],
    ['AWS_ACCESS_KEY_ID', AWS, 'AWS access key id'],
    ['api.token', 'abcd1234efgh', 'secret-named variable'],
    ['DATABASE_URL', 'postgres://app:s3cretpw@db:5432/app', 'password in URL'],
    ['NPM_CONFIG', '//registry/:_authToken=abcdef123456', 'npm auth token'],
  ])('%s is a secret (%s)', (name, value, kind) => {
    expect(secretInAssignment(name, value)).toMatchObject({ kind });
  });

  it.each([
    ['PATH', '/usr/bin:/bin'],
    ['DB_PASSWORD_FILE', '/run/secrets/db_password'],
    ['TOKEN_URL', 'https://auth.example.com/token'],
    ['API_KEY', '${API_KEY}'],
    ['SECRET', 'changeme'],
    ['PASSWORD', ''],
    ['PWD', '/app'],
    ['org.opencontainers.image.source', 'https://github.com/acme/app'],
    ['NODE_ENV', 'production'],
  ])('%s=%s is not', (name, value) => {
    expect(secretInAssignment(name, value)).toBeNull();
  });

  it('evidence is redacted', () => {
    const hit = secretInAssignment('GITHUB_TOKEN', GH)!;
    expect(hit.evidence).toBe('GITHUB_TOKEN=ghp_…(40 chars)');
    expect(hit.evidence).not.toContain(GH.slice(8));
    expect(redact('short')).toBe('s…(5 chars)');
  });
});

describe('secrets in files', () => {
  it('token formats on any line, with line numbers', () => {
    const text = `# config\nfoo\n${PEM}\nMIIEow...\nkey: ${AWS}\n`;
    expect(secretsInText('app/keys.txt', text)).toEqual([
      { kind: 'private key', evidence: expect.stringMatching(/^----…\(\d+ chars\)$/), line: 3 },
      { kind: 'AWS access key id', evidence: 'AKIA…(20 chars)', line: 5 },
    ]);
  });

  it('NAME=value pairs only in config-like files', () => {
    const env = 'NODE_ENV=production\nDB_PASSWORD=swordfish99\n# API_KEY=commented\n';
    expect(secretsInText('app/.env', env)).toEqual([
      { kind: 'secret-named variable', evidence: 'DB_PASSWORD=s…(11 chars)', line: 2 },
    ]);
    expect(secretsInText('app/config.yaml', 'db:\n  password: "swordfish99"\n')).toHaveLength(1);
    expect(secretsInText('app/server.js', 'const password = input;\n')).toEqual([]);
  });

  it('credential files by name', () => {
    expect(secretFileKind('root/.ssh/id_rsa')).toBe('SSH private key file');
    expect(secretFileKind('home/app/.docker/config.json')).toBe('docker registry credentials');
    expect(secretFileKind('app/id_rsa.pub')).toBeNull();
    expect(secretFileKind('app/server.js')).toBeNull();
  });

  it('paths not worth reading, binary content', () => {
    expect(skipPath('usr/share/doc/x/README')).toBe(true);
    expect(skipPath('usr/lib/x86_64-linux-gnu/libc.so.6')).toBe(true);
    expect(skipPath('app/server.js')).toBe(false);
    expect(looksText(Buffer.from('hello'))).toBe(true);
    expect(looksText(Buffer.from([0x7f, 0x45, 0x00, 0x01]))).toBe(false);
  });
});

describe('readTar: a streaming tar reader', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollgate-tar-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function collect(file: string, want: (p: string) => boolean, chunk = 777) {
    const data = fs.readFileSync(file);
    async function* chunks() {
      for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
    }
    const items: TarItem[] = [];
    for await (const item of readTar(chunks(), (e) => want(e.path))) items.push(item);
    return items;
  }

  it('reads GNU tar output: files, dirs, symlinks, long names, in odd-sized chunks', async () => {
    const root = path.join(dir, 'root');
    const long = `${'deep/'.repeat(30)}file.txt`;
    fs.mkdirSync(path.join(root, path.dirname(long)), { recursive: true });
    fs.writeFileSync(path.join(root, long), 'long name content');
    fs.writeFileSync(path.join(root, 'a.txt'), 'A'.repeat(1500));
    fs.writeFileSync(path.join(root, 'empty'), '');
    fs.symlinkSync('a.txt', path.join(root, 'link'));
    const tar = path.join(dir, 'gnu.tar');
    execFileSync('tar', ['-cf', tar, '--format=gnu', '-C', root, '.']);
    const items = await collect(tar, (p) => p === 'a.txt' || p.endsWith('file.txt'));
    const byPath = new Map(items.map((i) => [i.entry.path, i]));
    expect(byPath.get('a.txt')!.content!.toString()).toBe('A'.repeat(1500));
    expect(byPath.get(long)!.content!.toString()).toBe('long name content');
    expect(byPath.get('link')!.entry).toMatchObject({ type: 'symlink', linkname: 'a.txt' });
    expect(byPath.get('empty')!.entry).toMatchObject({ type: 'file', size: 0 });
    expect(byPath.get('empty')!.content).toBeUndefined();
    expect(byPath.get('deep')!.entry.type).toBe('dir');
    expect(byPath.has('')).toBe(true); // "./" itself
  });

  it('reads pax headers (long names, uid)', async () => {
    const root = path.join(dir, 'pax');
    const name = `${'p'.repeat(120)}.txt`;
    fs.mkdirSync(root);
    fs.writeFileSync(path.join(root, name), 'pax');
    const tar = path.join(dir, 'pax.tar');
    execFileSync('tar', [
      '-cf',
      tar,
      '--format=pax',
      '--owner=10001',
      '--group=10001',
      '-C',
      root,
      name,
    ]);
    const [item] = await collect(tar, () => true, 100);
    expect(item!.entry).toMatchObject({ path: name, uid: 10001, gid: 10001 });
    expect(item!.content!.toString()).toBe('pax');
  });

  it('a corrupt header is an error, not garbage', async () => {
    const bad = Buffer.alloc(1024);
    bad.write('name', 0);
    bad.write('0000644', 100);
    bad.write('99999999', 148); // wrong checksum
    async function* one() {
      yield bad;
    }
    await expect(async () => {
      for await (const _ of readTar(one())) void _;
    }).rejects.toThrow(TarFormatError);
  });
});

/**
 * Secret detection (pure): known token formats, private keys, credentials files, and
 * `NAME=value` pairs whose name says password/token/key. Matches are reported redacted — a
 * report must not become the leak.
 */

export interface SecretHit {
  /** What was found: `private key`, `GitHub token`, `password variable`, … */
  kind: string;
  /** Redacted evidence, e.g. `ghp_…(40 chars)`. */
  evidence: string;
  /** 1-based line in a file, when it came from one. */
  line?: number;
}

interface Pattern {
  kind: string;
  re: RegExp;
}

/** Token formats with a distinctive shape: few false positives. */
const TOKEN_PATTERNS: Pattern[] = [
  {
    kind: 'private key',
    re: /-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY( BLOCK)?-----/,
  },
  { kind: 'AWS access key id', re: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { kind: 'GitHub token', re: /\bgh[pousr]_[A-Za-z0-9]{36,255}\b/ },
  { kind: 'GitHub token', re: /\bgithub_pat_[A-Za-z0-9_]{22,255}\b/ },
  { kind: 'GitLab token', re: /\bglpat-[A-Za-z0-9_-]{20,}\b/ },
  { kind: 'Slack token', re: /\bxox[abposr]-[A-Za-z0-9-]{10,}\b/ },
  { kind: 'Google API key', re: /\bAIza[0-9A-Za-z_-]{35}\b/ },
  { kind: 'Stripe secret key', re: /\b[rs]k_live_[0-9A-Za-z]{20,}\b/ },
  { kind: 'npm token', re: /\bnpm_[A-Za-z0-9]{36}\b/ },
  { kind: 'npm auth token', re: /_authToken\s*=\s*[^\s$]{8,}/ },
  {
    kind: 'JSON web token',
    re: /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/,
  },
  { kind: 'password in URL', re: /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:[^\s:/@]{3,}@[^\s/]+/i },
];

/** Variable names that say "this is a secret". */
const SECRET_NAME =
  /(?:^|[_.-])(?:PASS(?:WORD|WD)?|PWD|SECRETS?|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?|AUTH_?TOKEN)(?:[_.-]|$)/i;

/** Values that are references or placeholders, not secrets. */
function harmlessValue(value: string): boolean {
  const v = value.trim().replace(/^["']|["']$/g, '');
  if (v.length < 4) return true;
  if (/^(?:true|false|yes|no|none|null|changeme|required|optional|\*+|x+)$/i.test(v)) return true;
  if (/^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/.test(v)) return true; // $OTHER_VAR
  if (/^(?:\/|\.\/|file:)/.test(v)) return true; // a path: /run/secrets/db_password
  if (/^<.*>$/.test(v)) return true; // <your-token>
  if (/^[a-z][a-z0-9+.-]*:\/\/[^\s@]+$/i.test(v)) return true; // a URL without credentials
  return false;
}

export function redact(value: string): string {
  const v = value.trim();
  const head = v.length > 16 ? v.slice(0, 4) : v.slice(0, 1);
  return `${head}…(${v.length} chars)`;
}

/** Checks one `NAME=value` (image env, label, or a line of a dotenv/properties file). */
export function secretInAssignment(name: string, value: string): SecretHit | null {
  for (const p of TOKEN_PATTERNS) {
    const m = p.re.exec(value);
    if (m) return { kind: p.kind, evidence: `${name}=${redact(m[0])}` };
  }
  if (SECRET_NAME.test(name) && !harmlessValue(value)) {
    return { kind: 'secret-named variable', evidence: `${name}=${redact(value)}` };
  }
  return null;
}

/** Text (a build step, a message) with every secret-looking value replaced by `…`. */
export function redactText(text: string): string {
  let out = text.replace(
    /("?)([A-Za-z_][\w.-]*)\1=("[^"]*"|'[^']*'|[^\s"']+)/g,
    (m, q: string, name: string, raw: string) =>
      secretInAssignment(name, raw.replace(/^["']|["']$/g, '')) ? `${q}${name}${q}=…` : m,
  );
  for (const p of TOKEN_PATTERNS) {
    out = out.replace(new RegExp(p.re.source, 'g'), (m) => redact(m));
  }
  return out;
}

const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]\s*(.+?)\s*$/;
const CONFIG_FILE =
  /(?:^|\/)(?:\.env(?:\.[\w-]+)?|[\w.-]+\.(?:env|properties|ini|conf|cfg|ya?ml|toml|json))$/i;

/** Scans a text file: token formats on every line; NAME=value pairs in config-like files. */
export function secretsInText(path: string, text: string, limit = 5): SecretHit[] {
  const hits: SecretHit[] = [];
  const lines = text.split('\n');
  const configLike = CONFIG_FILE.test(path);
  for (let i = 0; i < lines.length && hits.length < limit; i += 1) {
    const line = lines[i]!;
    if (line.length > 4096) continue;
    let hit: SecretHit | null = null;
    for (const p of TOKEN_PATTERNS) {
      const m = p.re.exec(line);
      if (m) {
        hit = { kind: p.kind, evidence: redact(m[0]) };
        break;
      }
    }
    if (!hit && configLike) {
      const a = ASSIGNMENT.exec(line.replace(/^\s*["']?/, '').replace(/["'],?\s*$/, ''));
      if (a && !line.trim().startsWith('#')) {
        const h = secretInAssignment(a[1]!.replace(/["']/g, ''), a[2]!.replace(/^["']/, ''));
        if (h && h.kind === 'secret-named variable') hit = h;
      }
    }
    if (hit) hits.push({ ...hit, line: i + 1 });
  }
  return hits;
}

/** Files whose name alone marks them as credentials. */
const SECRET_FILES: { re: RegExp; kind: string }[] = [
  { re: /(?:^|\/)id_(?:rsa|dsa|ecdsa|ed25519)$/, kind: 'SSH private key file' },
  { re: /(?:^|\/)\.git-credentials$/, kind: 'git credentials file' },
  { re: /(?:^|\/)\.aws\/credentials$/, kind: 'AWS credentials file' },
  { re: /(?:^|\/)\.docker\/config\.json$/, kind: 'docker registry credentials' },
  { re: /(?:^|\/)\.pgpass$/, kind: 'PostgreSQL password file' },
  { re: /(?:^|\/)\.netrc$/, kind: 'netrc credentials' },
  { re: /\.(?:p12|pfx|keystore|jks)$/i, kind: 'key store' },
];

export function secretFileKind(path: string): string | null {
  for (const f of SECRET_FILES) if (f.re.test(path)) return f.kind;
  return null;
}

/** Paths not worth reading: package managers' own files, docs, binaries by extension. */
export function skipPath(path: string): boolean {
  return (
    /(?:^|\/)(?:usr\/share\/(?:doc|man|locale|zoneinfo|i18n)|usr\/lib\/node_modules\/npm|proc|sys|dev)\//.test(
      path,
    ) ||
    /\.(?:png|jpe?g|gif|ico|woff2?|ttf|otf|so(?:\.\d+)*|a|o|gz|zip|xz|bz2|zst|wasm|node|jar|class|pyc)$/i.test(
      path,
    ) ||
    /(?:^|\/)etc\/ssl\/certs\//.test(path)
  );
}

/** True when the bytes look like text (no NUL in the first 8 KB). */
export function looksText(data: Buffer): boolean {
  return !data.subarray(0, 8192).includes(0);
}

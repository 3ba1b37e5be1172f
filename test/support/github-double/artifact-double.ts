/**
 * The Actions results service that @actions/artifact (v2+) talks to: Twirp JSON under
 * /twirp/github.actions.results.api.v1.ArtifactService/, with artifact bytes in azurite.
 * There is no OpenAPI for it: requests and responses are checked against the protobuf message
 * types generated into @actions/artifact itself (strict JSON reading: unknown fields fail).
 */
import type { AzuriteContainer } from './azurite';
import type { Violation } from './openapi';
import { resultsScope, serveTwirp, TwirpError, type Generated, type TwirpReply } from './twirp';
import { jobBackendId, type ArtifactRecord, type GitHubState, type RunRecord } from './state';

export type { TwirpReply } from './twirp';

export const TWIRP_PREFIX = '/twirp/github.actions.results.api.v1.ArtifactService/';

const DAY_MS = 86_400_000;

let generated: Promise<Generated> | undefined;

function protobufTypes(): Promise<Generated> {
  // Not exported by the package: the generated messages are its description of the service.
  generated ??=
    import('../../../node_modules/@actions/artifact/lib/generated/index.js') as unknown as Promise<Generated>;
  return generated;
}

interface Caller {
  run: RunRecord;
  /** The attempt the runtime token was issued for. */
  attempt: number;
  runBackendId: string;
  jobBackendId: string;
}

export class ArtifactService {
  constructor(
    private readonly state: GitHubState,
    private readonly storage: () => Promise<AzuriteContainer>,
    private readonly report: (v: Violation) => void,
  ) {}

  handle(method: string, authorization: string | undefined, rawBody: string): Promise<TwirpReply> {
    return serveTwirp({
      service: 'ArtifactService',
      prefix: TWIRP_PREFIX,
      method,
      rawBody,
      types: protobufTypes,
      report: this.report,
      authenticate: () => this.authenticate(authorization),
      dispatch: (caller, message) => this.dispatch(method, caller, message),
    });
  }

  private authenticate(authorization: string | undefined): Caller {
    const parts = resultsScope(authorization);
    if (!parts || parts.length !== 3) {
      throw new TwirpError(
        'unauthenticated',
        'the runtime token has no Actions.Results:<run>:<job> scope',
        true,
      );
    }
    const [, runBackendId, jobId] = parts as [string, string, string];
    const found = this.state.resolveBackendId(runBackendId);
    if (!found) {
      throw new TwirpError(
        'permission_denied',
        `unknown workflow run backend id ${runBackendId} (build the env with runnerEnv)`,
        true,
      );
    }
    return { run: found.run, attempt: found.attempt, runBackendId, jobBackendId: jobId };
  }

  private checkIds(caller: Caller, msg: Record<string, unknown>, sameJob: boolean): void {
    // An id of another attempt of the same run (listed by ListArtifacts in the
    // `listed-not-signed` scope): GitHub answers "workflow run not found", not a client mistake.
    const other = this.state.resolveBackendId(String(msg.workflowRunBackendId));
    const sameRun = other !== undefined && other.run === caller.run;
    if (sameRun && other.attempt !== caller.attempt) {
      if (this.state.artifactAttemptScope === 'run' && !sameJob) return;
      throw new TwirpError('not_found', 'workflow run not found', false);
    }
    if (msg.workflowRunBackendId !== caller.runBackendId) {
      throw new TwirpError(
        'permission_denied',
        `workflow_run_backend_id ${String(msg.workflowRunBackendId)} is not the token's run`,
        true,
      );
    }
    if (sameJob && msg.workflowJobRunBackendId !== caller.jobBackendId) {
      throw new TwirpError(
        'permission_denied',
        `workflow_job_run_backend_id ${String(msg.workflowJobRunBackendId)} is not the token's job`,
        true,
      );
    }
  }

  private async dispatch(
    method: string,
    caller: Caller,
    msg: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    switch (method) {
      case 'CreateArtifact':
        this.checkIds(caller, msg, true);
        return this.create(caller, msg);
      case 'FinalizeArtifact':
        this.checkIds(caller, msg, true);
        return this.finalize(caller, msg);
      case 'ListArtifacts':
        this.checkIds(caller, msg, false);
        return this.list(caller, msg);
      case 'GetSignedArtifactURL':
        this.checkIds(caller, msg, false);
        return this.signedUrl(caller, msg);
      case 'DeleteArtifact':
        this.checkIds(caller, msg, false);
        return this.remove(caller, msg);
      default:
        throw new TwirpError('bad_route', `no method ${method}`, true);
    }
  }

  private async create(
    caller: Caller,
    msg: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const name = String(msg.name ?? '');
    if (!name) throw new TwirpError('invalid_argument', 'name is required', true);
    // Artifacts belong to the run, not the attempt: a re-run job uploading the same name fails.
    if (this.state.artifacts.some((a) => a.runId === caller.run.id && a.name === name)) {
      throw new TwirpError(
        'already_exists',
        'an artifact with this name already exists on the workflow run',
        false,
      );
    }
    const mimeType = (msg.mimeType as { value?: string } | undefined)?.value || 'application/zip';
    const now = this.state.now();
    const expires = msg.expiresAt as { seconds?: bigint | string } | undefined;
    // The repository's retention is the most an artifact gets, whatever the client asked for.
    const longest = now.getTime() + this.state.retentionDays * DAY_MS;
    const expiresAt = new Date(
      expires?.seconds !== undefined ? Math.min(Number(expires.seconds) * 1000, longest) : longest,
    );
    const suffix = mimeType === 'application/zip' ? '.zip' : '';
    const record: ArtifactRecord = {
      id: this.state.nextId('artifact'),
      name,
      runId: caller.run.id,
      attempt: caller.attempt,
      runBackendId: caller.runBackendId,
      jobBackendId: caller.jobBackendId,
      mimeType,
      blobName: `${caller.runBackendId}/${caller.jobBackendId}/${safeBlobName(name)}${suffix}`,
      size: 0,
      digest: null,
      createdAt: this.state.timestamp(),
      updatedAt: this.state.timestamp(),
      expiresAt: expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      finalized: false,
    };
    const storage = await this.storage();
    this.state.artifacts.push(record);
    return { ok: true, signed_upload_url: storage.uploadUrl(record.blobName) };
  }

  private async finalize(
    caller: Caller,
    msg: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const record = this.state.artifacts.find(
      (a) => a.runId === caller.run.id && a.name === msg.name && !a.finalized,
    );
    if (!record)
      throw new TwirpError('not_found', `no artifact ${String(msg.name)} is being uploaded`, true);
    const size = Number(msg.size ?? 0);
    const blob = await (await this.storage()).info(record.blobName);
    if (!blob)
      throw new TwirpError('failed_precondition', `nothing was uploaded for ${record.name}`, true);
    if (blob.size !== size) {
      throw new TwirpError(
        'invalid_argument',
        `size ${size} does not match the ${blob.size} bytes uploaded`,
        true,
      );
    }
    record.size = size;
    record.digest = (msg.hash as { value?: string } | undefined)?.value ?? null;
    record.finalized = true;
    record.updatedAt = this.state.timestamp();
    return { ok: true, artifact_id: String(record.id) };
  }

  private list(caller: Caller, msg: Record<string, unknown>): Record<string, unknown> {
    const nameFilter = (msg.nameFilter as { value?: string } | undefined)?.value;
    const idFilter = (msg.idFilter as { value?: string } | undefined)?.value;
    const artifacts = this.state.artifacts
      .filter((a) => this.visible(caller, a) && !this.state.isExpired(a))
      .filter((a) => nameFilter === undefined || a.name === nameFilter)
      .filter((a) => idFilter === undefined || String(a.id) === String(idFilter))
      .map((a) => {
        const out: Record<string, unknown> = {
          workflow_run_backend_id: a.runBackendId,
          workflow_job_run_backend_id: a.jobBackendId,
          database_id: String(a.id),
          name: a.name,
          size: String(a.size),
          created_at: a.createdAt,
        };
        if (a.digest) out.digest = a.digest;
        return out;
      });
    return { artifacts };
  }

  private async signedUrl(
    caller: Caller,
    msg: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const record = this.finalized(caller, String(msg.name ?? ''));
    return { signed_url: (await this.storage()).downloadUrl(record.blobName, fileNameOf(record)) };
  }

  private async remove(
    caller: Caller,
    msg: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const record = this.finalized(caller, String(msg.name ?? ''));
    this.state.artifacts.splice(this.state.artifacts.indexOf(record), 1);
    await (await this.storage()).delete(record.blobName);
    return { ok: true, artifact_id: String(record.id) };
  }

  private finalized(caller: Caller, name: string): ArtifactRecord {
    const record = this.state.artifacts.find(
      (a) => a.finalized && a.runId === caller.run.id && a.name === name,
    );
    if (!record)
      throw new TwirpError('not_found', `no artifact ${name} in this workflow run`, false);
    if (record.attempt !== caller.attempt && this.state.artifactAttemptScope !== 'run') {
      throw new TwirpError('not_found', 'workflow run not found', false);
    }
    if (this.state.isExpired(record)) {
      throw new TwirpError('not_found', `artifact ${name} has expired`, false);
    }
    return record;
  }

  /** What the internal ListArtifacts shows a job of this attempt (see artifactAttemptScope). */
  private visible(caller: Caller, a: ArtifactRecord): boolean {
    if (!a.finalized || a.runId !== caller.run.id) return false;
    return this.state.artifactAttemptScope === 'hidden' ? a.attempt === caller.attempt : true;
  }
}

export function fileNameOf(a: ArtifactRecord): string {
  return a.mimeType === 'application/zip' ? `${a.name}.zip` : a.name;
}

function safeBlobName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** An unsigned JWT like the runner's ACTIONS_RUNTIME_TOKEN (its signature is never checked). */
export function runtimeToken(runBackendId: string, jobBackendIdValue: string): string {
  const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return [
    part({ typ: 'JWT', alg: 'none' }),
    part({
      scp: `Actions.GenericRead:00000000-0000-0000-0000-000000000000 Actions.Results:${runBackendId}:${jobBackendIdValue}`,
      iat: now,
      exp: now + 6 * 3600,
    }),
    'unsigned',
  ].join('.');
}

export interface RunnerIds {
  runId: number;
  jobId?: string | number;
  attempt?: number;
}

export interface RunnerEnvSource {
  url: string;
  token: string;
  state: GitHubState;
}

/**
 * The environment a job of run `runId` sees on a runner, pointed at the double. Registers the
 * run with the double. Note: @actions/github reads GITHUB_API_URL once, when first imported, so
 * import it (and @actions/artifact) only after applying this env.
 */
export function runnerEnv(double: RunnerEnvSource, ids: RunnerIds): Record<string, string> {
  const attempt = ids.attempt ?? 1;
  const run = double.state.run(ids.runId, {
    attempt: Math.max(attempt, double.state.runs.get(ids.runId)?.attempt ?? 1),
  });
  const job = jobBackendId(ids.runId, ids.jobId ?? 'job');
  return {
    ACTIONS_RESULTS_URL: `${double.url}/`,
    ACTIONS_RUNTIME_TOKEN: runtimeToken(double.state.backendIdOf(run.id, attempt), job),
    GITHUB_RETENTION_DAYS: String(double.state.retentionDays),
    GITHUB_API_URL: double.url,
    GITHUB_SERVER_URL: double.state.serverUrl,
    GITHUB_REPOSITORY: `${double.state.owner}/${double.state.repo}`,
    GITHUB_REPOSITORY_OWNER: double.state.owner,
    GITHUB_RUN_ID: String(ids.runId),
    GITHUB_RUN_ATTEMPT: String(attempt),
    GITHUB_SHA: run.headSha,
    GITHUB_REF: `refs/heads/${run.headBranch}`,
    GITHUB_TOKEN: double.token,
  };
}

/** Sets the variables on process.env; the returned function puts the old values back. */
export function applyEnv(env: Record<string, string>): () => void {
  const saved = new Map<string, string | undefined>();
  for (const [key, value] of Object.entries(env)) {
    saved.set(key, process.env[key]);
    process.env[key] = value;
  }
  return () => {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}

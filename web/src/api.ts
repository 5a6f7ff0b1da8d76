/**
 * The UI's only way to the cloudops API: REST (`/v1/...`, problem+json errors) and GraphQL (one
 * endpoint, `/graphql`: the supergraph, through Apollo Gateway when the API has one). A 401 ends
 * the session (a revoked or expired token): the app goes back to sign-in.
 */
import { getSession, setSession } from "./auth";

export class ApiError extends Error {
  status: number;
  detail: string;
  requestId: string | null;
  constructor(status: number, title: string, detail: string, requestId: string | null) {
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.detail = detail;
    this.requestId = requestId;
  }
}

type Params = Record<string, string | number | boolean | string[] | null | undefined>;

export function queryString(params: Params): string {
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => out.append(k, x));
    else out.append(k, String(v));
  }
  const s = out.toString();
  return s ? `?${s}` : "";
}

async function problem(res: Response): Promise<ApiError> {
  let title = res.statusText || `HTTP ${res.status}`;
  let detail = "";
  try {
    const body = (await res.json()) as { title?: string; detail?: string };
    title = body.title ?? title;
    detail = body.detail ?? "";
  } catch {
    /* not problem+json */
  }
  return new ApiError(res.status, title, detail, res.headers.get("x-request-id"));
}

function authHeaders(token?: string): Record<string, string> {
  const t = token ?? getSession()?.token;
  return t ? { Authorization: `Bearer ${t}` } : {};
}

async function send(path: string, init: RequestInit, token?: string): Promise<Response> {
  const res = await fetch(path, {
    ...init,
    headers: { ...authHeaders(token), ...(init.headers as Record<string, string> | undefined) },
  });
  if (!res.ok) {
    const err = await problem(res);
    if (res.status === 401 && token === undefined) setSession(null);
    throw err;
  }
  return res;
}

export async function getJson<T>(path: string, params: Params = {}, token?: string): Promise<T> {
  const res = await send(path + queryString(params), { headers: { Accept: "application/json" } }, token);
  return (await res.json()) as T;
}

export async function getText(path: string, params: Params = {}): Promise<string> {
  const res = await send(path + queryString(params), { headers: { Accept: "text/csv" } });
  return await res.text();
}

export async function postJson<T>(path: string, body: unknown, method = "POST"): Promise<T> {
  const res = await send(path, {
    method,
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  return res.status === 204 ? (undefined as T) : ((await res.json()) as T);
}

export async function del<T>(path: string): Promise<T> {
  const res = await send(path, { method: "DELETE" });
  return res.status === 204 ? (undefined as T) : ((await res.json()) as T);
}

/**
 * Run a GraphQL operation on the API's one GraphQL endpoint, `/graphql`: the supergraph. With
 * Apollo Gateway configured (`cloudops api --gateway-url`), the API passes it to the gateway, so any
 * supergraph operation works; served alone, the API answers operations one subgraph can answer and
 * refuses the others with `GATEWAY_REQUIRED` (every operation of operations.graphql is of that kind).
 * Subscriptions are not here: see live.ts (`/graphql/live`).
 */
export async function gql<T, V extends object>(query: string, variables: V): Promise<T> {
  const res = await fetch("/graphql", {
    method: "POST",
    headers: { ...authHeaders(), "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  // GraphQL answers are JSON whatever their status (a 400 carries its errors); anything else is a
  // problem+json refusal (401 token, 429 rate limit, 502 gateway down).
  if (!(res.headers.get("content-type") ?? "").startsWith("application/json")) {
    const err = await problem(res);
    if (res.status === 401) setSession(null);
    throw err;
  }
  const body = (await res.json()) as { data: T | null; errors?: { message: string; extensions?: { code?: string } }[] };
  if (body.errors?.length) {
    const first = body.errors[0];
    const code = first?.extensions?.code;
    if (code === "UNAUTHENTICATED") setSession(null);
    throw new ApiError(code === "FORBIDDEN" ? 403 : 400, code ?? "GraphQL error", first?.message ?? "", null);
  }
  if (body.data === null) throw new ApiError(500, "GraphQL error", "no data", null);
  return body.data;
}

/** An uploaded billing file (`POST /v1/sources/{id}/uploads`), plus when the UI uploaded it. */
export interface Uploaded {
  file_id: string;
  source_id: string;
  url: string;
  key: string;
  etag: string | null;
  version_id: string | null;
  size: number;
  sha256: string;
  announced: boolean;
  detail: string;
  at: string;
}

/** The object name an upload gets: the file's own name, with what the API refuses (spaces,
 * brackets, a leading dot) made into dashes. */
export function uploadName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 200) || "upload";
}

/** Upload `file` into the tenant's source `sourceId`; the body is the file's bytes. */
export async function uploadFile(sourceId: string, file: File): Promise<Uploaded> {
  const res = await send(`/v1/sources/${encodeURIComponent(sourceId)}/uploads${queryString({ name: uploadName(file.name) })}`, {
    method: "POST",
    headers: { "Content-Type": "application/octet-stream", Accept: "application/json" },
    body: file,
  });
  return { ...((await res.json()) as Omit<Uploaded, "at">), at: new Date().toISOString() };
}

// ---- wire types of the REST API (docs/openapi.json) ----

export interface Tenant {
  id: string;
  display_name: string;
  state: string;
  created_at: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface CostAnswer {
  columns: string[];
  rows: Record<string, string | number | null>[];
  data_version: number;
  cached: boolean;
  source: string;
  seconds: number;
}

export interface Plan {
  source: string;
  reason: string;
  sql: string;
  parameters: Record<string, unknown>;
  columns: string[];
}

export interface Source {
  id: string;
  provider: string;
  /** Where the objects live (s3, azure-blob, gcs, ...): uploads go to s3 sources of the files layout only. */
  kind: string;
  bucket: string;
  prefix: string;
  credentials_ref: string | null;
  schedule_s: number | null;
  enabled: boolean;
  layout: string;
}

export interface FileRow {
  file_id: string;
  source_id: string;
  object_key: string;
  version: string;
  url: string;
  state: string;
  triggers: string[];
  attempts: number;
  rows_in: number | null;
  rows_landed: number | null;
  rows_rejected: number | null;
  source_totals: Record<string, string> | null;
  landed_totals: Record<string, string> | null;
  last_error: string | null;
  first_seen_at: string;
  updated_at: string;
  period: string | null;
  period_version: string | null;
}

export interface Recommendation {
  fingerprint: string;
  kind: string;
  resource_id: string;
  provider: string;
  resource_type: string | null;
  state: string;
  monthly_savings: string;
  currency: string;
  period: string;
  first_seen: string;
  last_seen: string;
  times_seen: number;
  pr_number: number | null;
  pr_url: string | null;
  branch: string | null;
  state_changed_at: string;
  reason: string | null;
  superseded_by: string | null;
  detail: RecommendationDetail;
}

export interface RecommendationDetail {
  title?: string;
  confidence?: string;
  risk?: string;
  risk_note?: string;
  confidence_reasons?: string[];
  risk_basis?: string[];
  current?: Record<string, string>;
  proposed?: Record<string, string>;
  changes?: { attribute: string; current: string | null; proposed: string | null }[];
  evidence?: { query?: string; rows?: Record<string, unknown>[] };
  rollback_note?: string;
  irreversible?: boolean;
}

export interface Token {
  id: string;
  tenant: string | null;
  name: string;
  scopes: string[];
  created_at: string;
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  rate_limit_per_min: number | null;
}

export interface DeadLetter {
  position: string;
  topic: string;
  source_topic: string;
  failed_at: string;
  error_kind: string;
  attempts: number;
  tenant: string | null;
  file_url: string | null;
  reason: string;
  replayable: boolean;
}

export const SCOPES = [
  "costs:read",
  "sources:read",
  "sources:write",
  "files:read",
  "periods:read",
  "recommendations:read",
  "recommendations:write",
  "events:read",
  "tokens:admin",
  "dlq:admin",
] as const;

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "@tanstack/react-router";
import type { ColumnDef } from "@tanstack/react-table";
import { useMemo, useState, type FormEvent } from "react";
import { ApiError, getJson, postJson, uploadFile, type DeadLetter, type FileRow, type Page, type Source, type Uploaded } from "../api";
import { useTenant } from "../auth";
import { DataTable } from "../components/DataTable";
import { SimpleTable } from "../components/SimpleTable";
import { ErrorBox, QueryState } from "../components/States";
import { run } from "../graphql/ops";
import { formatDate, formatNumber, totalsLine } from "../format";
import { useLiveEvents, useLiveStatus } from "../live";
import { ingestionRoute } from "../router";

/** Rows in = landed + rejected, and the file's cost per currency = what landed. */
export function reconciliation(f: FileRow): { ok: boolean | null; text: string } {
  if (f.rows_in === null || f.rows_landed === null) return { ok: null, text: "pending" };
  const rows = f.rows_in === f.rows_landed + (f.rows_rejected ?? 0);
  const src = f.source_totals ?? {};
  const landed = f.landed_totals ?? {};
  const money = Object.keys({ ...src, ...landed }).every((c) => Number(src[c] ?? 0) === Number(landed[c] ?? 0));
  const ok = rows && money;
  return {
    ok,
    text: `${formatNumber(f.rows_in)} in = ${formatNumber(f.rows_landed)} landed + ${formatNumber(f.rows_rejected ?? 0)} rejected${rows ? "" : " ✗"}${money ? "" : " · totals differ ✗"}`,
  };
}

export function Ingestion() {
  const { tenant } = useTenant();
  const search = ingestionRoute.useSearch();
  const navigate = useNavigate({ from: "/ingestion" });
  const sources = useQuery({ queryKey: [tenant, "files", "sources"], queryFn: () => getJson<Page<Source>>("/v1/sources", { limit: 500 }) });
  const source = search.source ?? sources.data?.items[0]?.id;
  const chosen = sources.data?.items.find((s) => s.id === source);
  const files = useQuery({
    queryKey: [tenant, "files", "of", source],
    queryFn: () => getJson<Page<FileRow>>(`/v1/sources/${encodeURIComponent(source!)}/files`, { limit: 1000 }),
    enabled: !!source,
  });
  const [uploaded, setUploaded] = useState<Uploaded[]>([]);
  const periods = useQuery({ queryKey: [tenant, "periods", source], queryFn: () => run("Periods", { sourceId: source ?? null }), enabled: !!source });
  const fileColumns = useMemo<ColumnDef<FileRow, unknown>[]>(
    () => [
      { id: "key", header: "Object", accessorFn: (f) => f.object_key },
      { id: "state", header: "State", accessorFn: (f) => f.state, cell: (c) => <span className={`badge ${c.getValue() as string}`}>{c.getValue() as string}</span> },
      {
        id: "recon",
        header: "Reconciliation",
        accessorFn: (f) => reconciliation(f).text,
        cell: (c) => {
          const r = reconciliation(c.row.original);
          return <span className={r.ok === false ? "warn" : r.ok ? "ok" : "muted"}>{r.text}</span>;
        },
      },
      { id: "source_totals", header: "Cost in file", accessorFn: (f) => totalsLine(f.source_totals) },
      { id: "landed_totals", header: "Cost landed", accessorFn: (f) => totalsLine(f.landed_totals) },
      { id: "period", header: "Period", accessorFn: (f) => f.period ?? "–" },
      { id: "attempts", header: "Attempts", accessorFn: (f) => f.attempts, meta: { numeric: true } },
      { id: "updated", header: "Updated", accessorFn: (f) => f.updated_at, cell: (c) => formatDate(c.getValue() as string) },
      { id: "error", header: "Last error", accessorFn: (f) => f.last_error ?? "" },
    ],
    [],
  );
  return (
    <section aria-labelledby="ing-title">
      <h1 id="ing-title">Ingestion</h1>
      <LiveProgress watched={uploaded} />
      <h2>Sources</h2>
      <QueryState q={sources} what="sources" isEmpty={(d) => d.items.length === 0} empty="No billing sources yet (POST /v1/sources or `cloudops sources add`).">
        {(d) => (
          <ul className="sources">
            {d.items.map((s) => (
              <li key={s.id}>
                <button type="button" aria-pressed={s.id === source} onClick={() => void navigate({ search: { source: s.id } })}>
                  <strong>{s.id}</strong> · {s.provider} · {s.kind} · {s.bucket}/{s.prefix} · {s.layout}
                  {s.enabled ? "" : " · disabled"}
                </button>
              </li>
            ))}
          </ul>
        )}
      </QueryState>
      {source && (
        <>
          {chosen && takesUploads(chosen) ? (
            <UploadForm source={source} onUploaded={(u) => setUploaded((prev) => [u, ...prev.filter((p) => p.file_id !== u.file_id)])} />
          ) : (
            chosen && (
              <p className="muted" data-testid="no-upload">
                Uploads go to s3 sources with the files layout only; {chosen.id} is {chosen.kind} with the {chosen.layout} layout.
              </p>
            )
          )}
          <h2>Files of {source}</h2>
          <QueryState q={files} what="files" isEmpty={(d) => d.items.length === 0} empty="No files seen for this source yet.">
            {(d) => <DataTable data={d.items} columns={fileColumns} label={`Files of ${source}`} height={320} />}
          </QueryState>
          <h2>Billing periods and versions</h2>
          <QueryState q={periods} what="periods" isEmpty={(d) => d.periods.length === 0} empty="No billing-period versions (this source delivers plain files, not manifests).">
            {(d) => (
              <SimpleTable
                label="Billing period versions"
                rows={d.periods}
                rowKey={(p) => `${p.period}${p.version}`}
                columns={[
                  { id: "period", header: "Period", cell: (p) => p.period },
                  { id: "version", header: "Version", cell: (p) => <code>{p.version}</code> },
                  { id: "state", header: "State", cell: (p) => <span className={`badge ${p.state}`}>{p.state}</span> },
                  { id: "files", header: "Files", numeric: true, cell: (p) => p.files },
                  { id: "rows", header: "Rows landed", numeric: true, cell: (p) => formatNumber(p.rowsLanded) },
                  {
                    id: "landed",
                    header: "Cost landed",
                    cell: (p) => totalsLine(Object.fromEntries((p.landedTotals ?? []).map((m) => [m.currency, m.amount]))),
                  },
                  { id: "delivered", header: "Delivered", cell: (p) => formatDate(p.deliveredAt) },
                  { id: "promoted", header: "Promoted", cell: (p) => formatDate(p.promotedAt) },
                ]}
              />
            )}
          </QueryState>
        </>
      )}
      <DeadLetters />
    </section>
  );
}

/** Whether `POST /v1/sources/{id}/uploads` accepts files for `s` (the API refuses other kinds and layouts). */
function takesUploads(s: Source): boolean {
  return s.kind === "s3" && s.layout === "files";
}

/** Upload a billing file into the chosen source (`POST /v1/sources/{id}/uploads`, sources:write). */
function UploadForm({ source, onUploaded }: { source: string; onUploaded: (u: Uploaded) => void }) {
  const { tenant } = useTenant();
  const qc = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const upload = useMutation({
    mutationFn: (f: File) => uploadFile(source, f),
    onSuccess: (u) => {
      onUploaded(u);
      void qc.invalidateQueries({ queryKey: [tenant, "files"] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (file) upload.mutate(file);
  };
  return (
    <>
      <h2>Upload a billing file</h2>
      <form className="upload-form" onSubmit={submit}>
        <label>
          Billing file for {source}
          <input type="file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        </label>
        <button type="submit" disabled={!file || upload.isPending}>
          {upload.isPending ? "Uploading…" : "Upload"}
        </button>
      </form>
      <p className="muted small">
        The file goes to the source&apos;s bucket under its prefix, as the provider&apos;s export would; the pipeline detects its format
        and ingests it. Its progress appears under Live progress.
      </p>
      {upload.error && <ErrorBox error={upload.error} />}
      {upload.data && !upload.isPending && (
        <p role="status" data-testid="upload-result" data-file-id={upload.data.file_id}>
          Uploaded <code>{upload.data.key}</code> ({formatNumber(upload.data.size)} bytes) as file <code>{upload.data.file_id}</code>:{" "}
          {upload.data.detail}.
        </p>
      )}
    </>
  );
}

function LiveProgress({ watched }: { watched: Uploaded[] }) {
  const events = useLiveEvents();
  const status = useLiveStatus();
  // The newest event per file: its state and counts as they move through the ledger. Files
  // uploaded here are listed from the moment they are stored, until a worker takes them.
  const byFile = new Map<string, { state: string; at: string; data: Record<string, unknown>; name?: string }>();
  for (const u of [...watched].reverse()) byFile.set(u.file_id, { state: "uploaded", at: u.at, data: {}, name: u.key });
  for (const e of [...events].reverse()) {
    const id = String(e.data.file_id ?? e.data.file ?? "");
    if (!id || !["file", "loaded"].includes(e.kind)) continue;
    // A `loaded` receipt carries its counts in `detail`; a ledger (`file`) event at the top level.
    const detail = typeof e.data.detail === "object" && e.data.detail !== null ? (e.data.detail as Record<string, unknown>) : {};
    const data = { ...detail, ...e.data };
    const name = byFile.get(id)?.name;
    byFile.delete(id); // newest last in the map, then listed newest first
    byFile.set(id, { state: String(e.data.state ?? (e.kind === "loaded" ? "loaded" : "?")), at: e.at, data, name });
  }
  return (
    <section className="live-panel" aria-labelledby="live-h">
      <h2 id="live-h">
        Live progress <span className={`live ${status}`}>({status})</span>
      </h2>
      {byFile.size === 0 ? (
        <p className="muted">Waiting for files to be parsed or loaded… events appear here as they happen.</p>
      ) : (
        <ul className="plain" aria-live="polite" data-testid="live-files">
          {[...byFile.entries()].reverse().map(([id, f]) => (
            <li key={id} data-file-id={id}>
              {f.name && <strong>{f.name} </strong>}
              <code>{id}</code> <span className={`badge ${f.state}`}>{f.state}</span>{" "}
              {f.data.rows_in !== undefined && <span className="small">{formatNumber(f.data.rows_in as number)} rows in</span>}{" "}
              {f.data.rows_landed !== undefined && <span className="small">{formatNumber(f.data.rows_landed as number)} landed</span>}{" "}
              <span className="muted small">{formatDate(f.at)}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function DeadLetters() {
  const { tenant } = useTenant();
  const qc = useQueryClient();
  const dlq = useQuery({ queryKey: [tenant, "files", "dlq"], queryFn: () => getJson<Page<DeadLetter>>("/v1/dead-letters", { limit: 500 }), retry: false });
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const replay = useMutation({
    mutationFn: (dry: boolean) => postJson<{ replayed: string[]; skipped: string[]; dry_run: boolean }>("/v1/dead-letters/replay", { positions: [...chosen], dry_run: dry }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: [tenant, "files"] }),
  });
  return (
    <>
      <h2>Dead letters</h2>
      {dlq.error instanceof ApiError && dlq.error.status === 403 ? (
        <p className="muted">Dead letters need an admin token (scope dlq:admin).</p>
      ) : (
        <QueryState q={dlq} what="dead letters" isEmpty={(d) => d.items.length === 0} empty="No dead letters: every message was handled.">
          {(d) => (
            <>
              <SimpleTable
                label="Dead letters"
                rows={d.items}
                rowKey={(l) => l.position}
                columns={[
                  {
                    id: "replay",
                    header: "Replay",
                    cell: (l) => (
                      <input
                        type="checkbox"
                        aria-label={`Replay ${l.position}`}
                        disabled={!l.replayable}
                        checked={chosen.has(l.position)}
                        onChange={(e) => {
                          const next = new Set(chosen);
                          if (e.target.checked) next.add(l.position);
                          else next.delete(l.position);
                          setChosen(next);
                        }}
                      />
                    ),
                  },
                  { id: "failed", header: "Failed", cell: (l) => formatDate(l.failed_at) },
                  { id: "topic", header: "Topic", cell: (l) => l.source_topic },
                  { id: "kind", header: "Error", cell: (l) => l.error_kind },
                  { id: "file", header: "File", cell: (l) => l.file_url ?? "–" },
                  { id: "reason", header: "Reason", cell: (l) => l.reason },
                ]}
              />
              <div className="actions">
                <button type="button" disabled={!chosen.size || replay.isPending} onClick={() => replay.mutate(true)}>
                  Dry run
                </button>
                <button type="button" disabled={!chosen.size || replay.isPending} onClick={() => replay.mutate(false)}>
                  Replay {chosen.size || ""}
                </button>
                {replay.data && (
                  <span role="status">
                    {replay.data.dry_run ? "Would replay" : "Replayed"} {replay.data.replayed.length}, skipped {replay.data.skipped.length}.
                  </span>
                )}
              </div>
              {replay.error && <ErrorBox error={replay.error} />}
            </>
          )}
        </QueryState>
      )}
    </>
  );
}

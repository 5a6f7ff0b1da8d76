import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "@tanstack/react-router";
import type { ColumnDef } from "@tanstack/react-table";
import { useMemo, useState, type FormEvent } from "react";
import { getJson, postJson, type Page, type Recommendation } from "../api";
import { useTenant } from "../auth";
import { StackedChart } from "../components/Chart";
import { DataTable } from "../components/DataTable";
import { ErrorBox, Loading, QueryState } from "../components/States";
import { run } from "../graphql/ops";
import { formatDate, formatMoney } from "../format";
import { recommendationsRoute } from "../router";

const FILTERS: Record<string, string[] | undefined> = {
  active: ["open", "pr_open"],
  dismissed: ["dismissed"],
  merged: ["merged"],
  all: undefined,
};

export function Recommendations() {
  const { tenant } = useTenant();
  const search = recommendationsRoute.useSearch();
  const navigate = useNavigate({ from: "/recommendations" });
  const list = useQuery({
    queryKey: [tenant, "recommendations", "list", search.state],
    queryFn: () => getJson<Page<Recommendation>>("/v1/recommendations", { state: FILTERS[search.state], limit: 1000 }),
  });
  const columns = useMemo<ColumnDef<Recommendation, unknown>[]>(
    () => [
      { id: "title", header: "Recommendation", accessorFn: (r) => r.detail.title ?? r.kind },
      { id: "resource", header: "Resource", accessorFn: (r) => r.resource_id },
      {
        id: "savings",
        header: "Savings / month",
        accessorFn: (r) => Number(r.monthly_savings),
        cell: (c) => formatMoney(c.row.original.monthly_savings, c.row.original.currency),
        meta: { numeric: true },
      },
      { id: "confidence", header: "Confidence", accessorFn: (r) => r.detail.confidence ?? "–" },
      { id: "risk", header: "Risk", accessorFn: (r) => r.detail.risk ?? "–" },
      { id: "state", header: "State", accessorFn: (r) => r.state, cell: (c) => <span className={`badge ${c.getValue() as string}`}>{c.getValue() as string}</span> },
      {
        id: "pr",
        header: "Pull request",
        accessorFn: (r) => r.pr_number ?? -1,
        cell: (c) =>
          c.row.original.pr_url ? (
            <a href={c.row.original.pr_url} target="_blank" rel="noreferrer" onClick={(e) => e.stopPropagation()}>
              #{c.row.original.pr_number}
            </a>
          ) : (
            <span className="muted">none</span>
          ),
      },
      { id: "provider", header: "Provider", accessorFn: (r) => r.provider },
    ],
    [],
  );
  // The opened one by itself (it stays open after a dismissal takes it out of the list).
  const inList = list.data?.items.find((r) => r.fingerprint === search.open);
  const one = useQuery({
    queryKey: [tenant, "recommendations", "one", search.open],
    queryFn: () => getJson<Recommendation>(`/v1/recommendations/${encodeURIComponent(search.open!)}`),
    enabled: !!search.open,
    initialData: inList,
  });
  const selected = one.data;
  return (
    <section aria-labelledby="recs-title">
      <h1 id="recs-title">Recommendations</h1>
      <div className="controls" role="group" aria-label="Show">
        <label>
          Show
          <select value={search.state} onChange={(e) => void navigate({ search: { state: e.target.value } })}>
            {Object.keys(FILTERS).map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
      </div>
      <QueryState q={list} what="recommendations" isEmpty={(d) => d.items.length === 0} empty="No recommendations in this state.">
        {(d) => (
          <>
            <p className="muted small">
              {d.items.length} recommendations, largest savings first. Select one (click, or Enter) for its evidence, diff and pull request.
            </p>
            <DataTable
              data={d.items}
              columns={columns}
              label="Recommendations"
              height={320}
              onRowClick={(r) => void navigate({ search: (s) => ({ ...s, open: r.fingerprint }) })}
            />
          </>
        )}
      </QueryState>
      {search.open && one.error ? <ErrorBox error={one.error} /> : null}
      {selected && <Detail rec={selected} />}
    </section>
  );
}

function Detail({ rec }: { rec: Recommendation }) {
  const { tenant } = useTenant();
  const qc = useQueryClient();
  const d = rec.detail;
  const series = useQuery({
    queryKey: [tenant, "costs", "series", rec.resource_id],
    queryFn: () => run("CostSeries", { resourceId: rec.resource_id }),
  });
  const [reason, setReason] = useState("");
  const [days, setDays] = useState(30);
  const act = useMutation({
    mutationFn: (what: "dismiss" | "snooze") =>
      postJson<Recommendation>(`/v1/recommendations/${encodeURIComponent(rec.fingerprint)}/${what}`, what === "dismiss" ? { reason } : { reason, days }),
    onSuccess: () => {
      setReason("");
      void qc.invalidateQueries({ queryKey: [tenant, "recommendations"] });
    },
  });
  const submit = (e: FormEvent, what: "dismiss" | "snooze") => {
    e.preventDefault();
    if (reason.trim()) act.mutate(what);
  };
  const diff = (d.changes ?? []).flatMap((c) => [
    { sign: "-", text: `  ${c.attribute} = ${JSON.stringify(c.current)}` },
    { sign: "+", text: `  ${c.attribute} = ${JSON.stringify(c.proposed)}` },
  ]);
  const points = series.data?.costSeries.points ?? [];
  return (
    <article className="detail" aria-labelledby="rec-detail-title" data-testid="recommendation-detail">
      <h2 id="rec-detail-title">{d.title ?? rec.kind}</h2>
      <dl className="facts">
        <dt>Savings</dt>
        <dd>
          <strong>{formatMoney(rec.monthly_savings, rec.currency)}</strong> per month (from {rec.period})
        </dd>
        <dt>Confidence</dt>
        <dd>
          {d.confidence ?? "–"}
          {d.confidence_reasons?.length ? ` (${d.confidence_reasons.join("; ")})` : ""}
        </dd>
        <dt>Risk</dt>
        <dd>
          {d.risk ?? "–"}
          {d.risk_note ? `: ${d.risk_note}` : ""}
          {d.irreversible ? " Irreversible." : ""}
        </dd>
        <dt>State</dt>
        <dd>
          <span className={`badge ${rec.state}`}>{rec.state}</span> since {formatDate(rec.state_changed_at)}
          {rec.reason ? ` (${rec.reason})` : ""}
        </dd>
        <dt>Pull request</dt>
        <dd>
          {rec.pr_url ? (
            <a href={rec.pr_url} target="_blank" rel="noreferrer" data-testid="pr-link">
              #{rec.pr_number} {rec.branch ? `(${rec.branch})` : ""}
            </a>
          ) : (
            "not proposed yet"
          )}
        </dd>
        <dt>Resource</dt>
        <dd>
          <code>{rec.resource_id}</code> {rec.resource_type ? `(${rec.resource_type})` : ""} on {rec.provider}
        </dd>
      </dl>
      <h3>Terraform change</h3>
      {diff.length ? (
        <pre className="diff" aria-label="Terraform diff">
          {diff.map((l, i) => (
            <div key={i} className={l.sign === "+" ? "add" : "del"}>
              {l.sign}
              {l.text}
            </div>
          ))}
        </pre>
      ) : (
        <p className="muted">Report only: no Terraform argument changes.</p>
      )}
      <h3>Evidence</h3>
      {d.evidence?.rows?.length ? (
        // Wide evidence scrolls sideways: focusable, so the keyboard can scroll it too.
        <table className="simple" aria-label="Evidence rows" tabIndex={0}>
          <thead>
            <tr>
              {Object.keys(d.evidence.rows[0] ?? {}).map((k) => (
                <th key={k} scope="col">
                  {k}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {d.evidence.rows.slice(0, 20).map((r, i) => (
              <tr key={i}>
                {Object.values(r).map((v, j) => (
                  <td key={j}>{String(v)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">No evidence rows.</p>
      )}
      {d.evidence?.query && (
        <details>
          <summary>Evidence query</summary>
          <pre>{d.evidence.query}</pre>
        </details>
      )}
      <h3>Cost of this resource</h3>
      {series.isPending ? (
        <Loading what="the cost series" />
      ) : series.error ? (
        <ErrorBox error={series.error} />
      ) : points.length ? (
        <StackedChart
          categories={points.map((p) => p.period.slice(0, 7))}
          series={[{ name: "BilledCost", values: points.map((p) => Number(p.billedCost)) }]}
          label={`Monthly cost of ${rec.resource_id}`}
          valueFormat={(v) => formatMoney(v, points[0]?.currency ?? rec.currency)}
          height={200}
        />
      ) : (
        <p className="muted">No cost rows for this resource.</p>
      )}
      {["open", "pr_open"].includes(rec.state) && (
        <form className="act" onSubmit={(e) => submit(e, "dismiss")} aria-label="Dismiss or snooze">
          <label>
            Reason
            <input value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={2000} placeholder="why" />
          </label>
          <button type="submit" disabled={!reason.trim() || act.isPending}>
            Dismiss
          </button>
          <label>
            Days
            <input type="number" min={1} max={3650} value={days} onChange={(e) => setDays(Number(e.target.value))} style={{ width: "5em" }} />
          </label>
          <button type="button" disabled={!reason.trim() || act.isPending} onClick={(e) => submit(e, "snooze")}>
            Snooze
          </button>
        </form>
      )}
      {act.error && <ErrorBox error={act.error} />}
      {act.data && (
        <p role="status">
          Now <strong>{act.data.state}</strong>.
        </p>
      )}
    </article>
  );
}

import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { useMemo, useState } from "react";
import { ApiError, getJson, type DeadLetter, type FileRow, type Page, type Recommendation } from "../api";
import { useTenant } from "../auth";
import { StackedChart } from "../components/Chart";
import { Empty, ErrorBox, Loading } from "../components/States";
import { formatMoney, formatNumber, formatPercent } from "../format";
import { useCosts, useDataEnd } from "../queries";
import { addDays } from "../search";
import { toSeries } from "./Explorer";

const MOVER_DIMS = { Service: "ServiceName", Account: "SubAccountId", Region: "RegionId" } as const;

function daysInMonth(iso: string): number {
  const [y, m] = iso.split("-").map(Number);
  return new Date(Date.UTC(y!, m!, 0)).getUTCDate();
}

/** Sums of one money metric per currency. */
function perCurrency(rows: Record<string, unknown>[], metric = "BilledCost"): [string, number][] {
  const out = new Map<string, number>();
  for (const r of rows) out.set(String(r.BillingCurrency ?? "USD"), (out.get(String(r.BillingCurrency ?? "USD")) ?? 0) + Number(r[metric] ?? 0));
  return [...out.entries()];
}

/**
 * The month's forecast per currency: usage-based charges extrapolated linearly over the month, every
 * other charge (recurring fees, one-time purchases, tax, credits: billed once for the month, often
 * dated the 1st) counted as it is, so a bill of monthly line items is not multiplied by the month's length.
 */
export function forecast(rows: Record<string, unknown>[], elapsed: number, total: number): [string, number][] {
  const usage = perCurrency(rows.filter((r) => r.ChargeFrequency === "Usage-Based"));
  const other = perCurrency(rows.filter((r) => r.ChargeFrequency !== "Usage-Based"));
  const out = new Map<string, number>(other);
  for (const [c, v] of usage) out.set(c, (out.get(c) ?? 0) + (v / Math.max(1, elapsed)) * total);
  return [...out.entries()];
}

export function Overview() {
  const anchor = useDataEnd();
  const end = anchor.end;
  const latest = anchor.latest;
  const monthStart = latest ? `${latest.slice(0, 7)}-01` : undefined;
  const mtd = useCosts(end && monthStart ? { metric: ["BilledCost"], by: ["BillingCurrency", "ChargeFrequency"], from: monthStart, to: end, granularity: "total" } : null, "overview");
  const trend = useCosts(end ? { metric: ["BilledCost"], by: ["ProviderName"], from: addDays(end, -30), to: end, granularity: "day" } : null, "overview");
  const [moverDim, setMoverDim] = useState<string>("ServiceName");
  const [tagKey, setTagKey] = useState("");
  const dim = moverDim === "tag" ? (tagKey ? `tag:${tagKey}` : null) : moverDim;
  const now = useCosts(end && dim ? { metric: ["BilledCost"], by: [dim], from: addDays(end, -30), to: end, granularity: "total" } : null, "overview");
  const before = useCosts(end && dim ? { metric: ["BilledCost"], by: [dim], from: addDays(end, -60), to: addDays(end, -30), granularity: "total" } : null, "overview");
  const { tenant } = useTenant();
  const recs = useQuery({
    queryKey: [tenant, "recommendations", "open"],
    queryFn: () => getJson<Page<Recommendation>>("/v1/recommendations", { state: ["open", "pr_open"], limit: 1000 }),
  });
  const files = useQuery({ queryKey: [tenant, "files", "overview"], queryFn: () => getJson<Page<FileRow>>("/v1/files", { limit: 1000 }) });
  const dlq = useQuery({
    queryKey: [tenant, "overview", "dlq"],
    queryFn: () => getJson<Page<DeadLetter>>("/v1/dead-letters", { limit: 1000 }),
    retry: false,
  });

  const trendChart = useMemo(() => (trend.data ? toSeries(trend.data, ["ProviderName"], "BilledCost") : null), [trend.data]);

  if (anchor.isPending) return <Loading what="the overview" />;
  if (anchor.error) return <ErrorBox error={anchor.error} />;
  if (!latest) return <Empty>No cost data yet. Add a billing source on the Ingestion page; the overview fills in once a file loads.</Empty>;

  const mtdCurrencies = perCurrency(mtd.data?.rows ?? []);
  // One currency: amounts are money in it; several: plain numbers (the Explorer splits by currency).
  const single = mtdCurrencies.length === 1 ? mtdCurrencies[0]![0] : null;
  const money = (v: number) => (single ? formatMoney(v, single) : formatNumber(v));
  const elapsed = Number(latest.slice(8, 10));
  const total = daysInMonth(latest);
  const movers = (() => {
    if (!now.data || !before.data || !dim) return [];
    const prev = new Map(before.data.rows.map((r) => [String(r[dim] ?? "(none)"), Number(r.BilledCost ?? 0)]));
    const keys = new Set([...prev.keys(), ...now.data.rows.map((r) => String(r[dim] ?? "(none)"))]);
    const cur = new Map(now.data.rows.map((r) => [String(r[dim] ?? "(none)"), Number(r.BilledCost ?? 0)]));
    return [...keys]
      .map((k) => ({ key: k, now: cur.get(k) ?? 0, before: prev.get(k) ?? 0 }))
      .map((m) => ({ ...m, delta: m.now - m.before }))
      .sort((a, b) => Math.abs(b.delta) - Math.abs(a.delta))
      .slice(0, 8);
  })();
  const savings = new Map<string, Map<string, number>>();
  for (const r of recs.data?.items ?? []) {
    const byKind = savings.get(r.currency) ?? new Map<string, number>();
    byKind.set(r.kind, (byKind.get(r.kind) ?? 0) + Number(r.monthly_savings));
    savings.set(r.currency, byKind);
  }
  const fileStates = new Map<string, number>();
  for (const f of files.data?.items ?? []) fileStates.set(f.state, (fileStates.get(f.state) ?? 0) + 1);
  const failing = (files.data?.items ?? []).filter((f) => f.last_error || /fail|error|reject/.test(f.state)).length;
  const stale = (files.data?.items ?? []).filter(
    (f) => !["reconciled", "loaded", "superseded", "skipped"].includes(f.state) && Date.now() - Date.parse(f.updated_at) > 3600_000,
  ).length;

  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <p className="asof">As of the latest cost data: {latest}.</p>
      <div className="cards">
        <article className="card" aria-labelledby="mtd-h">
          <h2 id="mtd-h">Month to date ({latest.slice(0, 7)})</h2>
          {mtd.isPending ? (
            <Loading what="month to date" />
          ) : mtd.error ? (
            <ErrorBox error={mtd.error} />
          ) : (
            perCurrency(mtd.data?.rows ?? []).map(([c, v]) => (
              <p key={c} className="big" data-testid={`mtd-${c}`}>
                {formatMoney(v, c)}
              </p>
            ))
          )}
        </article>
        <article className="card" aria-labelledby="fc-h">
          <h2 id="fc-h">Forecast for the month</h2>
          {mtd.data &&
            forecast(mtd.data.rows, elapsed, total).map(([c, v]) => (
              <p key={c} className="big" data-testid={`forecast-${c}`}>
                {formatMoney(v, c)}
              </p>
            ))}
          <p className="muted small">
            Method: usage-based charges at their linear run rate (month to date ÷ {elapsed} days elapsed × {total} days in the
            month); recurring and one-time charges (monthly fees, tax, credits) as billed so far, not extrapolated.
          </p>
        </article>
        <article className="card" aria-labelledby="sav-h">
          <h2 id="sav-h">Open savings</h2>
          {recs.isPending ? (
            <Loading what="savings" />
          ) : recs.error ? (
            <ErrorBox error={recs.error} />
          ) : savings.size === 0 ? (
            <Empty>No open recommendations.</Empty>
          ) : (
            [...savings.entries()].map(([c, kinds]) => (
              <div key={c}>
                <p className="big">
                  {formatMoney([...kinds.values()].reduce((a, b) => a + b, 0), c)}
                  <span className="small"> / month</span>
                </p>
                <ul className="plain small">
                  {[...kinds.entries()].map(([k, v]) => (
                    <li key={k}>
                      {k}: {formatMoney(v, c)}
                    </li>
                  ))}
                </ul>
              </div>
            ))
          )}
          <Link to="/recommendations" search={{ state: "active" }}>
            See recommendations
          </Link>
        </article>
        <article className="card" aria-labelledby="ing-h">
          <h2 id="ing-h">Ingest health</h2>
          {files.isPending ? (
            <Loading what="files" />
          ) : files.error ? (
            <ErrorBox error={files.error} />
          ) : (
            <ul className="plain">
              <li>
                <strong>{files.data?.items.length ?? 0}</strong> files ·{" "}
                {[...fileStates.entries()].map(([s, n]) => `${n} ${s}`).join(", ") || "none"}
              </li>
              <li className={failing ? "warn" : ""}>
                <strong>{failing}</strong> failing
              </li>
              <li className={stale ? "warn" : ""}>
                <strong>{stale}</strong> late (unfinished, untouched for over an hour)
              </li>
              <li>
                {dlq.error instanceof ApiError && dlq.error.status === 403 ? (
                  <span className="muted">Dead letters: needs the dlq:admin scope</span>
                ) : dlq.error ? (
                  <span className="warn">Dead letters unavailable</span>
                ) : (
                  <>
                    <strong>{dlq.data?.items.length ?? "…"}</strong> in the dead-letter queue
                  </>
                )}
              </li>
            </ul>
          )}
          <Link to="/ingestion">See ingestion</Link>
        </article>
      </div>
      <h2>Daily spend by provider, last 30 days</h2>
      {trend.isPending ? (
        <Loading what="the trend" />
      ) : trend.error ? (
        <ErrorBox error={trend.error} />
      ) : trendChart && trendChart.categories.length ? (
        <StackedChart categories={trendChart.categories} series={trendChart.series} label="Daily BilledCost by provider" valueFormat={(v) => money(v)} kind="bar" height={280} />
      ) : (
        <Empty>No spend in the last 30 days.</Empty>
      )}
      <h2>Top movers: last 30 days vs the 30 before</h2>
      <div className="controls" role="group" aria-label="Top movers dimension">
        <label>
          By
          <select value={moverDim} onChange={(e) => setMoverDim(e.target.value)}>
            {Object.entries(MOVER_DIMS).map(([label, d]) => (
              <option key={d} value={d}>
                {label}
              </option>
            ))}
            <option value="tag">Tag…</option>
          </select>
        </label>
        {moverDim === "tag" && (
          <label>
            Tag key
            <input value={tagKey} onChange={(e) => setTagKey(e.target.value)} placeholder="team" />
          </label>
        )}
      </div>
      {now.isPending || before.isPending ? (
        <Loading what="movers" />
      ) : now.error || before.error ? (
        <ErrorBox error={now.error ?? before.error} />
      ) : movers.length === 0 ? (
        <Empty>Nothing moved.</Empty>
      ) : (
        <table className="simple" aria-label="Top movers">
          <thead>
            <tr>
              <th scope="col">{moverDim === "tag" ? `tag:${tagKey}` : moverDim}</th>
              <th scope="col" className="num">Last 30 days</th>
              <th scope="col" className="num">30 days before</th>
              <th scope="col" className="num">Change</th>
            </tr>
          </thead>
          <tbody>
            {movers.map((m) => (
              <tr key={m.key}>
                <td>{m.key}</td>
                <td className="num">{money(m.now)}</td>
                <td className="num">{money(m.before)}</td>
                <td className={`num ${m.delta > 0 ? "up" : "down"}`}>
                  {money(m.delta)} ({m.before ? formatPercent(m.delta / m.before) : "new"})
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

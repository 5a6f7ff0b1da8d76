import { useMutation } from "@tanstack/react-query";
import { useNavigate } from "@tanstack/react-router";
import type { ColumnDef } from "@tanstack/react-table";
import { useMemo, useState, type FormEvent } from "react";
import { getText, postJson, type CostAnswer, type Plan } from "../api";
import { StackedChart, type Series } from "../components/Chart";
import { DataTable } from "../components/DataTable";
import { Empty, ErrorBox, Loading } from "../components/States";
import { MONEY_METRICS, formatMoney, formatNumber } from "../format";
import { useCosts, useDataEnd, type CostParams } from "../queries";
import { explorerRoute } from "../router";
import { DIMENSIONS, GRANULARITIES, METRIC_CHOICES, RANGES, resolveRange, type ExplorerSearch } from "../search";

type Row = Record<string, string | number | null>;
const MAX_SERIES = 10;

function groupKey(row: Row, by: string[]): string {
  return by.length ? by.map((d) => (row[d] === null || row[d] === "" ? "(none)" : String(row[d]))).join(" · ") : "Total";
}

/** Chart series from a cost answer: the largest MAX_SERIES groups, the rest as "Other". */
export function toSeries(answer: CostAnswer, by: string[], metric: string): { categories: string[]; series: Series[] } {
  const rows = answer.rows as Row[];
  const totals = new Map<string, number>();
  for (const r of rows) totals.set(groupKey(r, by), (totals.get(groupKey(r, by)) ?? 0) + Number(r[metric] ?? 0));
  const ranked = [...totals.entries()].sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).map(([k]) => k);
  const kept = new Set(ranked.slice(0, MAX_SERIES));
  const hasPeriod = answer.columns.includes("Period");
  if (!hasPeriod) {
    const categories = ranked.slice(0, MAX_SERIES);
    const other = ranked.slice(MAX_SERIES).reduce((a, k) => a + (totals.get(k) ?? 0), 0);
    if (ranked.length > MAX_SERIES) categories.push("Other");
    return {
      categories,
      series: [{ name: metric, values: categories.map((c) => (c === "Other" ? other : (totals.get(c) ?? 0))) }],
    };
  }
  const categories = [...new Set(rows.map((r) => String(r.Period).slice(0, 10)))].sort();
  const index = new Map(categories.map((c, i) => [c, i]));
  const byName = new Map<string, number[]>();
  for (const r of rows) {
    const k = groupKey(r, by);
    const name = kept.has(k) ? k : "Other";
    const values = byName.get(name) ?? new Array<number>(categories.length).fill(0);
    values[index.get(String(r.Period).slice(0, 10)) ?? 0]! += Number(r[metric] ?? 0);
    byName.set(name, values);
  }
  const order = [...ranked.filter((k) => kept.has(k)), ...(byName.has("Other") ? ["Other"] : [])];
  return { categories, series: order.map((name) => ({ name, values: byName.get(name) ?? [] })) };
}

function download(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function Explorer() {
  const search = explorerRoute.useSearch();
  const navigate = useNavigate({ from: "/explorer" });
  const set = (patch: Partial<ExplorerSearch>) => void navigate({ search: (s) => ({ ...s, ...patch }) });
  const anchor = useDataEnd();
  const [from, to] = anchor.end ? resolveRange(search, anchor.end) : [undefined, undefined];
  const params: CostParams | null =
    anchor.end || search.range === "all" || search.range === "custom"
      ? {
          metric: [search.metric],
          by: search.by,
          filter: search.filter,
          exclude: search.exclude,
          from,
          to,
          granularity: search.gran,
          top: search.top,
        }
      : null;
  const costs = useCosts(params);
  const currencies = useCosts(params ? { metric: ["Rows"], by: ["BillingCurrency"], from, to, granularity: "total", filter: search.filter, exclude: search.exclude } : null);
  const currencyList = (currencies.data?.rows ?? []).map((r) => String(r.BillingCurrency ?? "")).filter(Boolean);
  const currency = search.by.includes("BillingCurrency") ? null : currencyList.length === 1 ? currencyList[0]! : null;
  const money = MONEY_METRICS.has(search.metric);
  const fmt = useMemo(
    () => (v: number) => (money && currency ? formatMoney(v, currency) : formatNumber(v)),
    [money, currency],
  );

  const explain = useMutation({
    mutationFn: () =>
      postJson<Plan>("/v1/costs/explain", {
        metrics: [search.metric],
        group_by: search.by,
        filters: [
          ...search.filter.map((f) => ({ dimension: f.split("=")[0], op: "in", values: (f.split("=")[1] ?? "").split(",") })),
          ...search.exclude.map((f) => ({ dimension: f.split("=")[0], op: "not_in", values: (f.split("=")[1] ?? "").split(",") })),
        ],
        start: from ? `${from}T00:00:00Z` : null,
        end: to ? `${to}T00:00:00Z` : null,
        granularity: search.gran,
        top_n: search.top ?? null,
      }),
  });
  const exportCsv = useMutation({
    mutationFn: async () => {
      const text = await getText("/v1/costs", { metric: [search.metric], by: search.by, filter: search.filter, exclude: search.exclude, from, to, granularity: search.gran, top: search.top, format: "csv" });
      download(`costs-${search.by.join("+") || "total"}-${from ?? "all"}-${to ?? "all"}.csv`, text);
      return text.split("\n").length - 2;
    },
  });
  const [copied, setCopied] = useState(false);

  const chart = useMemo(() => (costs.data ? toSeries(costs.data, search.by, search.metric) : null), [costs.data, search.by, search.metric]);
  const columns = useMemo<ColumnDef<Row, unknown>[]>(
    () =>
      (costs.data?.columns ?? []).map((c) => ({
        id: c,
        header: c,
        accessorFn: (r: Row) => (c === search.metric ? Number(r[c] ?? 0) : r[c]),
        meta: { numeric: c === search.metric },
        cell: (info) => {
          const v = info.getValue();
          if (c === search.metric) return money && currency ? formatMoney(v as number, currency) : money && info.row.original.BillingCurrency ? formatMoney(v as number, String(info.row.original.BillingCurrency)) : formatNumber(v as number);
          if (c === "Period") return String(v).slice(0, 10);
          return v === null || v === "" ? <span className="muted">(none)</span> : String(v);
        },
      })),
    [costs.data, search.metric, money, currency],
  );

  return (
    <section aria-labelledby="explorer-title">
      <h1 id="explorer-title">Cost explorer</h1>
      <Controls search={search} set={set} />
      <p className="asof">
        {search.range !== "custom" && search.range !== "all" && anchor.latest && <>Range ends at the latest data: {anchor.latest}. </>}
        {from || to ? (
          <>
            From <strong>{from ?? "the start"}</strong> to <strong>{to ?? "now"}</strong> (exclusive).
          </>
        ) : (
          "All time."
        )}{" "}
        {currencyList.length > 1 && !search.by.includes("BillingCurrency") && (
          <span className="warn">Several currencies ({currencyList.join(", ")}): group by BillingCurrency to read amounts.</span>
        )}
      </p>
      <div className="actions">
        <button type="button" onClick={() => exportCsv.mutate()} disabled={!params || exportCsv.isPending}>
          {exportCsv.isPending ? "Exporting…" : "Export CSV"}
        </button>
        <button
          type="button"
          onClick={() => {
            void navigator.clipboard?.writeText(location.href).then(() => setCopied(true));
          }}
        >
          {copied ? "Link copied" : "Copy shareable link"}
        </button>
        <button type="button" onClick={() => explain.mutate()} disabled={explain.isPending}>
          Explain the plan
        </button>
        {exportCsv.data !== undefined && <span className="muted">Exported {exportCsv.data} rows.</span>}
        {exportCsv.error && <ErrorBox error={exportCsv.error} />}
      </div>
      {explain.data && (
        <details className="plan" open>
          <summary>
            Planner: <strong>{explain.data.source}</strong>. {explain.data.reason}
          </summary>
          <pre>{explain.data.sql}</pre>
        </details>
      )}
      {explain.error && <ErrorBox error={explain.error} />}
      {anchor.error ? (
        <ErrorBox error={anchor.error} />
      ) : costs.isPending || !params ? (
        <Loading what="costs" />
      ) : costs.error ? (
        <ErrorBox error={costs.error} retry={() => void costs.refetch()} />
      ) : costs.data && costs.data.rows.length === 0 ? (
        <Empty>No costs match this question. Widen the range or remove a filter.</Empty>
      ) : costs.data && chart ? (
        <>
          <StackedChart
            categories={chart.categories}
            series={chart.series}
            label={`${search.metric} by ${search.by.join(", ") || "total"}`}
            valueFormat={fmt}
          />
          <p className="muted small">
            {costs.data.rows.length} rows · answered by <code>{costs.data.source}</code>
            {costs.data.cached ? " (cache)" : ""} in {(costs.data.seconds * 1000).toFixed(0)} ms · data version {costs.data.data_version}
          </p>
          <DataTable data={costs.data.rows as Row[]} columns={columns} label="Cost rows" />
        </>
      ) : null}
    </section>
  );
}

function Controls({ search, set }: { search: ExplorerSearch; set: (p: Partial<ExplorerSearch>) => void }) {
  const [tag, setTag] = useState("");
  const [filter, setFilter] = useState("");
  const [mode, setMode] = useState<"filter" | "exclude">("filter");
  const addFilter = (e: FormEvent) => {
    e.preventDefault();
    if (!/^[^=]+=.+$/.test(filter)) return;
    set(mode === "filter" ? { filter: [...search.filter, filter] } : { exclude: [...search.exclude, filter] });
    setFilter("");
  };
  return (
    <div className="controls" role="group" aria-label="Question">
      <label>
        Metric
        <select value={search.metric} onChange={(e) => set({ metric: e.target.value as ExplorerSearch["metric"] })}>
          {METRIC_CHOICES.map((m) => (
            <option key={m}>{m}</option>
          ))}
        </select>
      </label>
      <label>
        Group by
        <select
          value={search.by[0] ?? ""}
          onChange={(e) => set({ by: e.target.value ? [e.target.value, ...search.by.slice(1).filter((d) => d !== e.target.value)] : [] })}
        >
          <option value="">(nothing: total)</option>
          {[...DIMENSIONS, ...search.by.filter((d) => d.startsWith("tag:"))].map((d) => (
            <option key={d}>{d}</option>
          ))}
        </select>
      </label>
      <label>
        Then by
        <select value={search.by[1] ?? ""} onChange={(e) => set({ by: [search.by[0] ?? "", e.target.value].filter(Boolean) })} disabled={!search.by[0]}>
          <option value="">(none)</option>
          {[...DIMENSIONS, ...search.by.filter((d) => d.startsWith("tag:"))]
            .filter((d) => d !== search.by[0])
            .map((d) => (
              <option key={d}>{d}</option>
            ))}
        </select>
      </label>
      <form
        className="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (tag.trim()) set({ by: [`tag:${tag.trim()}`, ...search.by.filter((d) => d !== `tag:${tag.trim()}`)].slice(0, 3) });
          setTag("");
        }}
      >
        <label>
          Group by tag
          <input value={tag} onChange={(e) => setTag(e.target.value)} placeholder="team" />
        </label>
        <button type="submit">Add</button>
      </form>
      <label>
        Range
        <select value={search.range} onChange={(e) => set({ range: e.target.value as ExplorerSearch["range"] })}>
          {RANGES.map((r) => (
            <option key={r} value={r}>
              {{ "7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days", mtd: "Month to date", custom: "Custom", all: "All time" }[r]}
            </option>
          ))}
        </select>
      </label>
      {search.range === "custom" && (
        <>
          <label>
            From
            <input type="date" value={search.from ?? ""} onChange={(e) => set({ from: e.target.value || undefined })} />
          </label>
          <label>
            To
            <input type="date" value={search.to ?? ""} onChange={(e) => set({ to: e.target.value || undefined })} />
          </label>
        </>
      )}
      <label>
        Granularity
        <select value={search.gran} onChange={(e) => set({ gran: e.target.value as ExplorerSearch["gran"] })}>
          {GRANULARITIES.map((g) => (
            <option key={g}>{g}</option>
          ))}
        </select>
      </label>
      <label>
        Top N
        <input
          type="number"
          min={1}
          max={100000}
          value={search.top ?? ""}
          onChange={(e) => set({ top: e.target.value ? Number(e.target.value) : undefined })}
          style={{ width: "6em" }}
        />
      </label>
      <form className="inline" onSubmit={addFilter}>
        <label>
          <span className="sr-only">Filter mode</span>
          <select value={mode} onChange={(e) => setMode(e.target.value as "filter" | "exclude")} aria-label="Filter mode">
            <option value="filter">Only</option>
            <option value="exclude">Exclude</option>
          </select>
        </label>
        <label>
          Filter
          <input value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="ProviderName=AWS,GCP" />
        </label>
        <button type="submit">Add filter</button>
      </form>
      {(search.filter.length > 0 || search.exclude.length > 0) && (
        <ul className="chips" aria-label="Active filters">
          {search.filter.map((f) => (
            <li key={`f${f}`}>
              only {f}{" "}
              <button type="button" aria-label={`Remove filter ${f}`} onClick={() => set({ filter: search.filter.filter((x) => x !== f) })}>
                ×
              </button>
            </li>
          ))}
          {search.exclude.map((f) => (
            <li key={`x${f}`}>
              not {f}{" "}
              <button type="button" aria-label={`Remove exclusion ${f}`} onClick={() => set({ exclude: search.exclude.filter((x) => x !== f) })}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

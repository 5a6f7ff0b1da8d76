/** TanStack Query hooks. Every key starts with [tenant, area]: one tenant's cache never answers
 * another's, and a live event invalidates an area of the signed-in tenant (see live.ts). */
import { useQuery } from "@tanstack/react-query";
import { getJson, type CostAnswer } from "./api";
import { useTenant } from "./auth";
import { addDays } from "./search";

export interface CostParams {
  metric: string[];
  by: string[];
  filter?: string[];
  exclude?: string[];
  from?: string;
  to?: string;
  granularity: "total" | "day" | "month";
  top?: number;
}

export function costParams(p: CostParams): Record<string, string | string[] | number | undefined> {
  return {
    metric: p.metric,
    by: p.by,
    filter: p.filter,
    exclude: p.exclude,
    from: p.from,
    to: p.to,
    granularity: p.granularity,
    top: p.top,
  };
}

export function useCosts(p: CostParams | null, area = "costs") {
  const { tenant } = useTenant();
  return useQuery({
    queryKey: [tenant, area, p],
    queryFn: () => getJson<CostAnswer>("/v1/costs", costParams(p!)),
    enabled: p !== null,
  });
}

/**
 * The day after the tenant's latest cost data (the exclusive end "last 30 days" ends at), or
 * tomorrow when there is none yet. Two small questions: months with data, then the days of
 * the latest month.
 */
export function useDataEnd(): { end: string | undefined; latest: string | undefined; isPending: boolean; error: unknown } {
  const months = useCosts({ metric: ["Rows"], by: [], granularity: "month" }, "overview");
  const last = months.data?.rows.map((r) => String(r.Period ?? "")).sort().at(-1);
  const days = useCosts(
    last ? { metric: ["Rows"], by: [], granularity: "day", from: last.slice(0, 10), to: addDays(last.slice(0, 10), 32) } : null,
    "overview",
  );
  const today = new Date().toISOString().slice(0, 10);
  if (months.data && !last) return { end: addDays(today, 1), latest: undefined, isPending: false, error: null };
  const latestDay = days.data?.rows.map((r) => String(r.Period ?? "").slice(0, 10)).sort().at(-1);
  return {
    end: latestDay ? addDays(latestDay, 1) : undefined,
    latest: latestDay,
    isPending: months.isPending || (last !== undefined && days.isPending),
    error: months.error ?? days.error,
  };
}

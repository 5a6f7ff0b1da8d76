/** The Explorer's state lives in the URL's search params (shareable, back/forward work). Parsed
 * and defaulted here so the route's search is typed. The token is never part of it. */

export const GRANULARITIES = ["total", "day", "month"] as const;
export type Granularity = (typeof GRANULARITIES)[number];
export const METRIC_CHOICES = ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "Savings"] as const;
export type MetricChoice = (typeof METRIC_CHOICES)[number];
export const RANGES = ["7d", "30d", "90d", "mtd", "custom", "all"] as const;
export type RangeChoice = (typeof RANGES)[number];

export interface ExplorerSearch {
  by: string[];
  metric: MetricChoice;
  range: RangeChoice;
  from?: string;
  to?: string;
  gran: Granularity;
  filter: string[];
  exclude: string[];
  top?: number;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const list = (v: unknown): string[] =>
  (Array.isArray(v) ? v : typeof v === "string" && v ? [v] : []).filter((x): x is string => typeof x === "string");
function oneOf<T extends string>(v: unknown, all: readonly T[], d: T): T {
  return typeof v === "string" && (all as readonly string[]).includes(v) ? (v as T) : d;
}

export function parseExplorerSearch(raw: Record<string, unknown>): ExplorerSearch {
  const top = Number(raw.top);
  const from = typeof raw.from === "string" && DATE.test(raw.from) ? raw.from : undefined;
  const to = typeof raw.to === "string" && DATE.test(raw.to) ? raw.to : undefined;
  return {
    by: raw.by === undefined ? ["ServiceName"] : list(raw.by).slice(0, 3),
    metric: oneOf(raw.metric, METRIC_CHOICES, "BilledCost"),
    range: oneOf(raw.range, RANGES, "30d"),
    from,
    to,
    gran: oneOf(raw.gran, GRANULARITIES, "day"),
    filter: list(raw.filter),
    exclude: list(raw.exclude),
    top: Number.isInteger(top) && top > 0 && top <= 100000 ? top : undefined,
  };
}

export const DIMENSIONS = [
  "ProviderName",
  "ServiceName",
  "ServiceCategory",
  "BillingAccountId",
  "SubAccountId",
  "RegionId",
  "ChargeCategory",
  "PricingCategory",
  "CommitmentDiscountType",
  "BillingCurrency",
  "ResourceId",
  "ResourceType",
  "AvailabilityZone",
  "SkuId",
] as const;

/** ISO date (YYYY-MM-DD) arithmetic in UTC. */
export function addDays(iso: string, days: number): string {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** The [from, to) dates a range choice means, anchored at `end` (the day after the latest data). */
export function resolveRange(s: Pick<ExplorerSearch, "range" | "from" | "to">, end: string): [string | undefined, string | undefined] {
  switch (s.range) {
    case "7d":
      return [addDays(end, -7), end];
    case "30d":
      return [addDays(end, -30), end];
    case "90d":
      return [addDays(end, -90), end];
    case "mtd":
      return [`${addDays(end, -1).slice(0, 7)}-01`, end];
    case "custom":
      return [s.from, s.to];
    case "all":
      return [undefined, undefined];
  }
}

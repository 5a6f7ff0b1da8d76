/** Numbers as people read them: money per currency (Intl), counts, dates. Money stays a decimal
 * string on the wire; it becomes a JS number only for display and charts. */

const money = new Map<string, Intl.NumberFormat>();

export function formatMoney(amount: string | number | null | undefined, currency = "USD"): string {
  if (amount === null || amount === undefined || amount === "") return "–";
  const n = typeof amount === "number" ? amount : Number(amount);
  if (!Number.isFinite(n)) return String(amount);
  let f = money.get(currency);
  if (!f) {
    try {
      f = new Intl.NumberFormat("en-US", { style: "currency", currency, maximumFractionDigits: 2 });
    } catch {
      f = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
    }
    money.set(currency, f);
  }
  return f.format(n);
}

const count = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

export function formatNumber(n: string | number | null | undefined): string {
  if (n === null || n === undefined || n === "") return "–";
  const v = typeof n === "number" ? n : Number(n);
  return Number.isFinite(v) ? count.format(v) : String(n);
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "–";
  return iso.length > 10 ? iso.replace("T", " ").slice(0, 16) + " UTC" : iso;
}

export function formatPercent(ratio: number): string {
  if (!Number.isFinite(ratio)) return "–";
  return `${ratio >= 0 ? "+" : ""}${(ratio * 100).toFixed(1)}%`;
}

/** Money-valued metrics (the rest are quantities or counts). */
export const MONEY_METRICS = new Set(["BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "Savings"]);

export function totalsLine(totals: Record<string, string> | null | undefined): string {
  if (!totals || Object.keys(totals).length === 0) return "–";
  return Object.entries(totals)
    .map(([c, a]) => formatMoney(a, c))
    .join(" + ");
}

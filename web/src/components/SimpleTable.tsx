/**
 * A small, fully rendered table (no virtualisation, no sorting) for short lists: tokens, targets,
 * period versions, dead letters. Column headers are `<th scope="col">`; a column whose header is
 * only for screen readers (an actions column) gives `srHeader`. Long lists use DataTable.
 */
import type { ReactNode } from "react";

export interface SimpleColumn<T> {
  /** Stable key of the column. */
  id: string;
  header: string;
  /** The header is read by screen readers only (e.g. "Actions"). */
  srHeader?: boolean;
  cell: (row: T) => ReactNode;
  /** Right-aligned number. */
  numeric?: boolean;
  /** Small text that may wrap (scopes, references). */
  small?: boolean;
}

export function SimpleTable<T>({
  label,
  rows,
  rowKey,
  columns,
}: {
  label: string;
  rows: T[];
  rowKey: (row: T) => string;
  columns: SimpleColumn<T>[];
}) {
  const cls = (c: SimpleColumn<T>) => [c.numeric ? "num" : "", c.small ? "small" : ""].filter(Boolean).join(" ") || undefined;
  return (
    <table className="simple" aria-label={label}>
      <thead>
        <tr>
          {columns.map((c) => (
            <th key={c.id} scope="col" className={c.numeric ? "num" : undefined}>
              {c.srHeader ? <span className="sr-only">{c.header}</span> : c.header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={rowKey(r)}>
            {columns.map((c) => (
              <td key={c.id} className={cls(c)}>
                {c.cell(r)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

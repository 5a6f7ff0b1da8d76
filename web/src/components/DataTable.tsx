/**
 * A TanStack Table, virtualised (TanStack Virtual: only visible rows are in the DOM), sortable by
 * clicking or pressing Enter on a header, with a column chooser. Arrow keys move between rows.
 */
import {
  flexRender,
  getCoreRowModel,
  getSortedRowModel,
  useReactTable,
  type ColumnDef,
  type SortingState,
  type VisibilityState,
} from "@tanstack/react-table";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useRef, useState, type KeyboardEvent } from "react";

const ROW_H = 34;

export function DataTable<T>({
  data,
  columns,
  label,
  height = 420,
  onRowClick,
  chooser = true,
}: {
  data: T[];
  columns: ColumnDef<T, unknown>[];
  label: string;
  height?: number;
  onRowClick?: (row: T) => void;
  chooser?: boolean;
}) {
  const [sorting, setSorting] = useState<SortingState>([]);
  const [visibility, setVisibility] = useState<VisibilityState>({});
  const table = useReactTable({
    data,
    columns,
    state: { sorting, columnVisibility: visibility },
    onSortingChange: setSorting,
    onColumnVisibilityChange: setVisibility,
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: getSortedRowModel(),
  });
  const rows = table.getRowModel().rows;
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_H,
    overscan: 12,
  });
  const items = virtual.getVirtualItems();
  const padTop = items.length ? (items[0]?.start ?? 0) : 0;
  const padBottom = items.length ? virtual.getTotalSize() - (items[items.length - 1]?.end ?? 0) : 0;
  const leafs = table.getVisibleLeafColumns().length;

  const onRowKey = (e: KeyboardEvent<HTMLTableRowElement>, index: number, row: T) => {
    if (e.key === "Enter" && onRowClick) onRowClick(row);
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = index + (e.key === "ArrowDown" ? 1 : -1);
      if (next < 0 || next >= rows.length) return;
      virtual.scrollToIndex(next);
      requestAnimationFrame(() => {
        scroller.current?.querySelector<HTMLElement>(`[data-index="${next}"]`)?.focus();
      });
    }
  };

  return (
    <div className="datatable">
      {chooser && (
        <details className="columns">
          <summary>Columns</summary>
          <fieldset>
            <legend className="sr-only">Visible columns of {label}</legend>
            {table.getAllLeafColumns().map((c) => (
              <label key={c.id}>
                <input type="checkbox" checked={c.getIsVisible()} onChange={c.getToggleVisibilityHandler()} />{" "}
                {typeof c.columnDef.header === "string" ? c.columnDef.header : c.id}
              </label>
            ))}
          </fieldset>
        </details>
      )}
      <div
        className="scroller"
        ref={scroller}
        style={{ maxHeight: height }}
        tabIndex={0}
        role="region"
        aria-label={`${label} (${rows.length} rows)`}
      >
        <table aria-label={label} aria-rowcount={rows.length + 1}>
          <thead>
            {table.getHeaderGroups().map((hg) => (
              <tr key={hg.id}>
                {hg.headers.map((h) => {
                  const sorted = h.column.getIsSorted();
                  return (
                    <th
                      key={h.id}
                      scope="col"
                      aria-sort={sorted === "asc" ? "ascending" : sorted === "desc" ? "descending" : "none"}
                      className={(h.column.columnDef.meta as { numeric?: boolean } | undefined)?.numeric ? "num" : ""}
                    >
                      {h.isPlaceholder ? null : h.column.getCanSort() ? (
                        <button type="button" className="sort" onClick={h.column.getToggleSortingHandler()}>
                          {flexRender(h.column.columnDef.header, h.getContext())}
                          <span aria-hidden="true">{sorted === "asc" ? " ▲" : sorted === "desc" ? " ▼" : ""}</span>
                        </button>
                      ) : (
                        flexRender(h.column.columnDef.header, h.getContext())
                      )}
                    </th>
                  );
                })}
              </tr>
            ))}
          </thead>
          <tbody>
            {padTop > 0 && (
              <tr aria-hidden="true">
                <td colSpan={leafs} style={{ height: padTop, padding: 0 }} />
              </tr>
            )}
            {items.map((vi) => {
              const row = rows[vi.index];
              if (!row) return null;
              return (
                <tr
                  key={row.id}
                  data-index={vi.index}
                  aria-rowindex={vi.index + 2}
                  tabIndex={-1}
                  className={onRowClick ? "clickable" : ""}
                  onClick={onRowClick ? () => onRowClick(row.original) : undefined}
                  onKeyDown={(e) => onRowKey(e, vi.index, row.original)}
                  style={{ height: ROW_H }}
                >
                  {row.getVisibleCells().map((cell) => (
                    <td
                      key={cell.id}
                      className={(cell.column.columnDef.meta as { numeric?: boolean } | undefined)?.numeric ? "num" : ""}
                    >
                      {flexRender(cell.column.columnDef.cell, cell.getContext())}
                    </td>
                  ))}
                </tr>
              );
            })}
            {padBottom > 0 && (
              <tr aria-hidden="true">
                <td colSpan={leafs} style={{ height: padBottom, padding: 0 }} />
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/** ECharts (tree-shaken: bar + line on canvas), sized to its box, disposed on unmount. */
import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import type { EChartsCoreOption } from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef } from "react";

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

export interface Series {
  name: string;
  values: number[];
}

export function StackedChart({
  categories,
  series,
  kind = "bar",
  label,
  valueFormat,
  height = 320,
}: {
  categories: string[];
  series: Series[];
  kind?: "bar" | "line";
  label: string;
  valueFormat: (v: number) => string;
  height?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const chart = echarts.init(box.current, undefined, { renderer: "canvas" });
    const option: EChartsCoreOption = {
      animation: false,
      tooltip: { trigger: "axis", valueFormatter: (v: unknown) => valueFormat(Number(v)) },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 16, top: 16, bottom: 40, containLabel: true },
      xAxis: { type: "category", data: categories },
      yAxis: { type: "value", axisLabel: { formatter: (v: number) => valueFormat(v) } },
      series: series.map((s) => ({
        name: s.name,
        type: kind,
        stack: "total",
        areaStyle: kind === "line" ? {} : undefined,
        emphasis: { focus: "series" },
        data: s.values,
      })),
    };
    chart.setOption(option);
    const ro = new ResizeObserver(() => chart.resize());
    ro.observe(box.current);
    return () => {
      ro.disconnect();
      chart.dispose();
    };
  }, [categories, series, kind, valueFormat]);
  const total = series.reduce((a, s) => a + s.values.reduce((x, y) => x + y, 0), 0);
  return (
    <figure className="chart">
      <div ref={box} style={{ height }} role="img" aria-label={`${label}: ${series.length} series, total ${valueFormat(total)}`} />
    </figure>
  );
}

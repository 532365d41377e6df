/**
 * A rate over the last few minutes, drawn by uPlot (canvas: cheap to redraw every second).
 * The x axis is a fixed window ending now, so the line moves left as time passes, and the
 * chart is as wide as its box (it follows the box when the window is resized).
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { HISTORY_SECONDS } from "../stats-feed.js";

export interface LiveChartProps {
  t: number[];
  values: number[];
  /** Bumped when the data changed. */
  version: number;
  color: string;
  format: (value: number) => string;
  label: string;
  /** The smallest top of the y axis (1 by default; 1 KiB suits bytes). */
  floor?: number;
}

const HEIGHT = 170;

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value === "" ? fallback : value;
}

/** Seconds since the epoch as local HH:MM (the axis is five minutes wide). */
function clock(seconds: number): string {
  const d = new Date(seconds * 1000);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

export function LiveChart(props: LiveChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(props);
  latest.current = props;

  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const axisColor = cssVar("--muted", "#64748b");
    const gridColor = cssVar("--grid", "rgba(100,116,139,0.15)");
    const options: uPlot.Options = {
      width: Math.max(200, element.clientWidth),
      height: HEIGHT,
      legend: { show: false },
      cursor: { y: false, points: { size: 7 } },
      scales: {
        x: {
          time: true,
          range: (_u, _min, max) => {
            const end = Math.max(max, Date.now() / 1000);
            return [end - HISTORY_SECONDS, end];
          },
        },
        y: { range: (_u, _min, max) => [0, Math.max(props.floor ?? 1, max * 1.15)] },
      },
      axes: [
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { show: false },
          font: "11px system-ui, sans-serif",
          space: 70,
          size: 26,
          values: (_u, splits) => splits.map(clock),
        },
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { show: false },
          size: 56,
          font: "11px system-ui, sans-serif",
          values: (_u, splits) => splits.map((value) => latest.current.format(value)),
        },
      ],
      series: [
        {},
        {
          label: props.label,
          stroke: props.color,
          width: 2,
          fill: `${props.color}22`,
          points: { show: false },
          value: (_u, value) => (value === null ? "—" : latest.current.format(value)),
        },
      ],
    };
    const chart = new uPlot(options, [props.t.slice(), props.values.slice()], element);
    plot.current = chart;
    const resize = new ResizeObserver(() => {
      chart.setSize({ width: Math.max(200, element.clientWidth), height: HEIGHT });
    });
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData([props.t.slice(), props.values.slice()]);
  }, [props.version]);

  return <div class="chart" ref={box} />;
}

/**
 * The page's small parts: cards, figures, meters (a value against its limit), badges, errors.
 * Figures carry `data-stat` and `data-value` (the raw number): scripts and the browser tests
 * can read what the page shows without parsing its formatting.
 */
import type { ComponentChildren } from "preact";
import type { ApiError } from "../api.js";

export function Card(props: {
  title?: ComponentChildren;
  actions?: ComponentChildren;
  class?: string;
  children: ComponentChildren;
}) {
  return (
    <section class={`card ${props.class ?? ""}`}>
      {props.title === undefined && props.actions === undefined ? null : (
        <header class="card-head">
          <h2>{props.title}</h2>
          <div class="card-actions">{props.actions}</div>
        </header>
      )}
      {props.children}
    </section>
  );
}

export function Stat(props: {
  label: string;
  value: string;
  raw?: number | null;
  id?: string;
  hint?: ComponentChildren;
  tone?: Tone;
}) {
  return (
    <div class={`stat ${props.tone ?? ""}`}>
      <div class="stat-label">{props.label}</div>
      <div
        class="stat-value"
        data-stat={props.id}
        data-value={props.raw === undefined || props.raw === null ? undefined : String(props.raw)}
      >
        {props.value}
      </div>
      {props.hint === undefined ? null : <div class="stat-hint">{props.hint}</div>}
    </div>
  );
}

export type Tone = "ok" | "warn" | "bad" | "info" | "";

/** How full something is: green, amber past 75%, red past 90%. */
export function toneOf(fraction: number | null | undefined): Tone {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return "";
  return fraction >= 0.9 ? "bad" : fraction >= 0.75 ? "warn" : "ok";
}

export function Meter(props: { fraction: number | null | undefined; tone?: Tone; label?: string }) {
  const fraction = props.fraction;
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) {
    return <div class="meter empty" title={props.label ?? "no limit"} />;
  }
  const width = Math.min(100, Math.max(0, fraction * 100));
  return (
    <div class={`meter ${props.tone ?? toneOf(fraction)}`} title={props.label}>
      <div class="meter-fill" style={{ width: `${width}%` }} />
    </div>
  );
}

export function Badge(props: { tone?: Tone; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge ${props.tone ?? ""}`} title={props.title}>
      {props.children}
    </span>
  );
}

export function ErrorBox(props: { error: ApiError | undefined | null; what?: string }) {
  if (props.error === undefined || props.error === null) return null;
  const forbidden = props.error.status === 403;
  return (
    <div class={`notice ${forbidden ? "info" : "bad"}`} role="alert">
      <strong>
        {forbidden
          ? `This token may not see ${props.what ?? "this"}.`
          : props.error.status === 0
            ? "The server does not answer."
            : `${props.error.code}`}
      </strong>{" "}
      {props.error.message}
    </div>
  );
}

export function Empty(props: { children: ComponentChildren }) {
  return <div class="empty-state">{props.children}</div>;
}

export function Loading() {
  return (
    <div class="loading" aria-busy="true">
      <span class="spinner" /> Loading…
    </div>
  );
}

// Metrics in Prometheus' text exposition format (version 0.0.4), no library.
// Counters and histograms are kept here; gauges are read at scrape time.
// Every label set is bounded (nodes, links and groups come from the config;
// fence devices from ha.cf), and the registry refuses new series past
// series_max so a bug cannot grow it without bound.

export const series_max = 2000;

export type Labels = Record<string, string>;

/** Seconds; heartbeat gaps, detection, takeover and fence times all fit. */
export const default_buckets_s = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  buckets?: number[];
  series: Map<string, { labels: Labels; value: number; counts?: number[]; sum?: number }>;
}

/** Series keys of label objects callers keep (per-heartbeat counters): no string building per datagram. */
const label_keys = new WeakMap<Labels, string>();

export class Registry {
  private families = new Map<string, Family>();
  private series_count = 0;
  series_refused = 0;

  counter(name: string, help: string): void {
    this.define(name, help, "counter");
  }

  histogram(name: string, help: string, buckets = default_buckets_s): void {
    this.define(name, help, "histogram", buckets);
  }

  private define(name: string, help: string, type: Family["type"], buckets?: number[]): void {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new RangeError(`bad metric name ${name}`);
    if (!this.families.has(name)) this.families.set(name, { name, help, type, buckets, series: new Map() });
  }

  private get(name: string, labels: Labels) {
    const f = this.families.get(name);
    if (!f) throw new RangeError(`metric ${name} is not defined`);
    let key = label_keys.get(labels);
    if (key === undefined) label_keys.set(labels, (key = labelText(labels)));
    let s = f.series.get(key);
    if (!s) {
      if (this.series_count >= series_max) {
        this.series_refused++;
        return null;
      }
      this.series_count++;
      s = { labels, value: 0, ...(f.type === "histogram" ? { counts: f.buckets!.map(() => 0), sum: 0 } : {}) };
      f.series.set(key, s);
    }
    return { f, s };
  }

  inc(name: string, labels: Labels = {}, by = 1): void {
    const r = this.get(name, labels);
    if (r && by >= 0) r.s.value += by;
  }

  /** Make a counter series exist at 0 (so a rate() has a start). */
  touch(name: string, labels: Labels = {}): void {
    this.get(name, labels);
  }

  observe(name: string, labels: Labels, value_s: number): void {
    if (!Number.isFinite(value_s)) return;
    const r = this.get(name, labels);
    if (!r) return;
    const { f, s } = r;
    s.value++; // count
    s.sum! += value_s;
    f.buckets!.forEach((b, i) => {
      if (value_s <= b) s.counts![i]!++;
    });
  }

  /** A histogram's count and sum (tests, status). */
  histogramOf(name: string, labels: Labels = {}): { count: number; sum: number } | null {
    const s = this.families.get(name)?.series.get(labelText(labels));
    return s ? { count: s.value, sum: s.sum ?? 0 } : null;
  }

  counterOf(name: string, labels: Labels = {}): number {
    return this.families.get(name)?.series.get(labelText(labels))?.value ?? 0;
  }

  /** The kept families, then gauges computed by the caller. */
  render(gauges: Gauge[] = []): string {
    let out = "";
    for (const f of this.families.values()) {
      out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
      for (const s of f.series.values()) {
        if (f.type !== "histogram") {
          out += `${f.name}${labelText(s.labels)} ${num(s.value)}\n`;
          continue;
        }
        f.buckets!.forEach((b, i) => {
          out += `${f.name}_bucket${labelText({ ...s.labels, le: num(b) })} ${s.counts![i]}\n`;
        });
        out += `${f.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.value}\n`;
        out += `${f.name}_sum${labelText(s.labels)} ${num(s.sum!)}\n`;
        out += `${f.name}_count${labelText(s.labels)} ${s.value}\n`;
      }
    }
    for (const g of gauges) {
      out += `# HELP ${g.name} ${escapeHelp(g.help)}\n# TYPE ${g.name} gauge\n`;
      for (const [labels, v] of g.values) out += `${g.name}${labelText(labels)} ${num(v)}\n`;
    }
    return out;
  }
}

export interface Gauge {
  name: string;
  help: string;
  values: [Labels, number][];
}

function num(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Number.isNaN(v)) return "NaN";
  return String(v);
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

export function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${labels[k]!.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`).join(",")}}`;
}

// ---------------------------------------------------------------------------
// Per-link heartbeat loss, from sequence numbers: a peer sends every
// heartbeat on every link with one sequence number, so a gap on one link is
// a heartbeat that link lost. Gaps are counted when the next one arrives.

/** recent loss is judged over this many sequence numbers per link */
export const loss_window = 256;
/** one gap counts at most this many (a peer that was away for hours is not "loss") */
const gap_max = 1000;

export interface LinkCounts {
  received: number;
  lost: number;
  /** lost / expected over the last loss_window sequence numbers; null before the first */
  loss_recent: number | null;
}

interface Track {
  generation: number;
  seq: number;
  at_ms: number;
  received: number;
  lost: number;
  /** 1 = lost, 0 = received, newest last; at most loss_window */
  window: number[];
  window_lost: number;
}

export class LinkLoss {
  private tracks = new Map<string, Track>();

  /**
   * An accepted frame from `node` on `link`. Returns the gap since the last
   * frame on this link (ms), or null for the first of an incarnation, and
   * the heartbeats lost in between.
   */
  frame(node: string, link: string, generation: number, seq: number, now_ms: number): { interval_ms: number | null; lost: number } {
    const key = `${node}\u0000${link}`;
    let t = this.tracks.get(key);
    if (!t) {
      if (this.tracks.size >= series_max) return { interval_ms: null, lost: 0 };
      t = { generation, seq, at_ms: now_ms, received: 0, lost: 0, window: [], window_lost: 0 };
      this.tracks.set(key, t);
      this.push(t, 0);
      t.received++;
      return { interval_ms: null, lost: 0 };
    }
    if (generation < t.generation || (generation === t.generation && seq <= t.seq)) {
      return { interval_ms: null, lost: 0 }; // late copy, duplicate or replay
    }
    if (generation > t.generation) {
      // a restarted peer counts from 1 again
      t.generation = generation;
      t.seq = seq;
      t.at_ms = now_ms;
      t.received++;
      this.push(t, 0);
      return { interval_ms: null, lost: 0 };
    }
    const lost = Math.min(seq - t.seq - 1, gap_max);
    for (let i = 0; i < Math.min(lost, loss_window); i++) this.push(t, 1);
    this.push(t, 0);
    const interval_ms = now_ms - t.at_ms;
    t.seq = seq;
    t.at_ms = now_ms;
    t.received++;
    t.lost += lost;
    return { interval_ms, lost };
  }

  private push(t: Track, v: number): void {
    t.window.push(v);
    t.window_lost += v;
    if (t.window.length > loss_window) t.window_lost -= t.window.shift()!;
  }

  counts(node: string, link: string): LinkCounts | null {
    const t = this.tracks.get(`${node}\u0000${link}`);
    if (!t) return null;
    return { received: t.received, lost: t.lost, loss_recent: t.window.length === 0 ? null : t.window_lost / t.window.length };
  }
}

// `tandem status --json`: its versioned schema, as a TypeScript type (for
// the daemon and the CLI) and as JSON Schema (printed by
// `tandem status --schema`, documented in docs/status-schema.md).
//
// Versioning: `schema_version` grows by one when a field is removed or
// changes meaning; new fields may appear within a version, so readers must
// ignore what they do not know. Version 1 had `schema` only (still sent,
// equal to schema_version).

export const status_schema_version = 2;

export interface StatusLinkV2 {
  name: string;
  state: "up" | "down";
  last_heard_ms_ago: number | null;
  /** heartbeats accepted on this link from this peer since the daemon started */
  received: number;
  /** heartbeats the peer sent that never arrived on this link (sequence gaps) */
  lost: number;
  /** lost / expected over the last 256 sequence numbers; null before the first heartbeat */
  loss_recent: number | null;
}

export interface StatusNodeV2 {
  name: string;
  state: "self" | "init" | "up" | "dead";
  generation: number;
  last_heard_ms_ago: number | null;
  late_count: number;
  links: StatusLinkV2[];
}

export interface StatusGroupV2 {
  name: string;
  id: string;
  holder: string | null;
  holders: string[];
  target: string | null;
  state: string;
  /** ISO time of the last local state change */
  since: string | null;
  failures: number;
  blocked: boolean;
  last_failure: { at: string; action: string; detail: string } | null;
}

export interface StatusFenceV2 {
  node: string;
  phase: string;
  reason: string | null;
  attempts: number;
  for_ms: number;
  next_in_ms: number | null;
  last_result: { ok: boolean; detail: string } | null;
}

/** One volume of a DRBD resource as the kernel reported it (DRBD 8.4's state names). */
export interface StatusDrbdVolumeV2 {
  minor: number;
  volume: number | null;
  /** Primary, Secondary, Unknown */
  role: string;
  peer_role: string;
  /** StandAlone, WFConnection, Connected, SyncSource, ... */
  connection: string;
  /** UpToDate, Consistent, Outdated, Inconsistent, Diskless, DUnknown, ... */
  disk: string;
  peer_disk: string;
  io_suspended: boolean;
  out_of_sync_kib: number | null;
}

/** A DRBD resource of haresources (drbddisk::r0, ocf:linbit:drbd): the last state the daemon read. */
export interface StatusDrbdResourceV2 {
  name: string;
  /** the haresources groups it is in */
  groups: string[];
  /** the last successful read; null before one */
  volumes: StatusDrbdVolumeV2[] | null;
  read_at: string | null;
  /** which call read it: start, stop, monitor, status */
  read_by: string | null;
  /** the last read failed (after read_at): why, and when */
  error: string | null;
  error_at: string | null;
}

/** A call of DRBD's fence-peer or split-brain handler (tandem drbd-fence-peer / drbd-split-brain) since the daemon started. */
export interface StatusDrbdEventV2 {
  resource: string;
  peer: string;
  event: "split-brain" | "fence-peer";
  /** the latest call */
  at: string;
  count: number;
}

/** An exchange over the DRBD outdate channel (tandem's dopd): this node asked a live peer to outdate its disk, or a peer asked this node. */
export interface StatusDrbdOutdateV2 {
  resource: string;
  peer: string;
  /** asked: this node's fence-peer handler asked the peer; served: the peer asked this node */
  direction: "asked" | "served";
  /** the request id (one per fence-peer handler run) */
  id: number;
  /** the latest request sent (asked) or handled (served) */
  at: string;
  /** requests sent (asked) or handled on the kernel (served) for this id */
  count: number;
  /** src/core/outdate.ts OutdateResult: outdated, already_outdated, primary, inconsistent, diskless, no_drbd, unknown_resource, connected, busy, error; null: no answer yet */
  result: string | null;
  detail: string | null;
  answered_at: string | null;
}

export interface StatusV2 {
  schema_version: number;
  schema: number;
  node: string;
  generation: number;
  started: string;
  now: string;
  timing: { keepalive_ms: number; warntime_ms: number; deadtime_ms: number; initdead_ms: number };
  nodes: StatusNodeV2[];
  groups: StatusGroupV2[];
  fencing: StatusFenceV2[];
  /** required: quorum on (ha.cf `quorum`; auto = 3+ nodes); votes: self + peers up; needed: a strict majority of total */
  quorum: { required: boolean; quorate: boolean; votes: number; needed: number; total: number; policy: "stop" | "freeze" };
  watchdog: { device: string; feeding: boolean; timeout_ms: number; feed_interval_ms: number; self_fence: string | null } | null;
  events: { dir: string; dropped: number; write_errors: number };
  metrics: { address: string } | null;
  ping: unknown;
  realtime: unknown;
  links: { name: string }[];
  counters: Record<string, unknown>;
  /** added within v2: absent from older daemons */
  drbd?: { resources: StatusDrbdResourceV2[]; events: StatusDrbdEventV2[]; outdates?: StatusDrbdOutdateV2[] };
}

type S = Record<string, unknown>;
const int = { type: "integer", minimum: 0 };
const num = { type: "number", minimum: 0 };
const ms_or_null = { type: ["integer", "null"], minimum: 0 };
const str = { type: "string" };
const str_or_null = { type: ["string", "null"] };
const iso = { type: "string", format: "date-time" };
const obj = (properties: S, required = Object.keys(properties)): S => ({ type: "object", properties, required });
const iso_or_null = { type: ["string", "null"], format: "date-time" };

const drbd_volume = obj({
  minor: int,
  volume: { type: ["integer", "null"], minimum: 0 },
  role: str,
  peer_role: str,
  connection: str,
  disk: str,
  peer_disk: str,
  io_suspended: { type: "boolean" },
  out_of_sync_kib: { type: ["integer", "null"], minimum: 0 },
});

/** Fields added within v2 after its first release: described, but not required (older daemons omit them). */
const added_in_v2: S = {
  drbd: obj({
    resources: {
      type: "array",
      items: obj({
        name: str,
        groups: { type: "array", items: str },
        volumes: { type: ["array", "null"], items: drbd_volume },
        read_at: iso_or_null,
        read_by: { type: ["string", "null"], enum: ["start", "stop", "monitor", "status", null] },
        error: str_or_null,
        error_at: iso_or_null,
      }),
    },
    events: {
      type: "array",
      items: obj({ resource: str, peer: str, event: { enum: ["split-brain", "fence-peer"] }, at: iso, count: { type: "integer", minimum: 1 } }),
    },
    // added later within v2: absent from older daemons, and before this node's first outdate exchange
    outdates: {
      type: "array",
      items: obj({
        resource: str,
        peer: str,
        direction: { enum: ["asked", "served"] },
        id: int,
        at: iso,
        count: int,
        result: str_or_null,
        detail: str_or_null,
        answered_at: iso_or_null,
      }),
    },
  }, ["resources", "events"]),
};

export const status_json_schema: S = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://tandem.invalid/status-schema-v2.json",
  title: "tandem status --json",
  ...obj(
    {
      ...v2_fields(),
      ...added_in_v2,
    },
    Object.keys(v2_fields()),
  ),
};

/** The fields of v2 as first released: every one required. */
function v2_fields(): S {
  return {
    schema_version: { const: status_schema_version },
    schema: { type: "integer" },
    node: str,
    generation: int,
    started: iso,
    now: iso,
    timing: obj({ keepalive_ms: num, warntime_ms: num, deadtime_ms: num, initdead_ms: num }),
    nodes: {
      type: "array",
      items: obj({
        name: str,
        state: { enum: ["self", "init", "up", "dead"] },
        generation: int,
        last_heard_ms_ago: ms_or_null,
        late_count: int,
        links: {
          type: "array",
          items: obj({
            name: str,
            state: { enum: ["up", "down"] },
            last_heard_ms_ago: ms_or_null,
            received: int,
            lost: int,
            loss_recent: { type: ["number", "null"], minimum: 0, maximum: 1 },
          }),
        },
      }),
    },
    groups: {
      type: "array",
      items: obj({
        name: str,
        id: str,
        holder: str_or_null,
        holders: { type: "array", items: str },
        target: str_or_null,
        state: str,
        since: { type: ["string", "null"], format: "date-time" },
        failures: int,
        blocked: { type: "boolean" },
        last_failure: { type: ["object", "null"], properties: { at: iso, action: str, detail: str }, required: ["at", "action", "detail"] },
      }),
    },
    fencing: {
      type: "array",
      items: obj({
        node: str,
        phase: str,
        reason: str_or_null,
        attempts: int,
        for_ms: int,
        next_in_ms: ms_or_null,
        last_result: { type: ["object", "null"], properties: { ok: { type: "boolean" }, detail: str }, required: ["ok", "detail"] },
      }),
    },
    quorum: obj({ required: { type: "boolean" }, quorate: { type: "boolean" }, votes: int, needed: int, total: int, policy: { enum: ["stop", "freeze"] } }),
    watchdog: {
      type: ["object", "null"],
      properties: { device: str, feeding: { type: "boolean" }, timeout_ms: int, feed_interval_ms: int, self_fence: str_or_null },
      required: ["device", "feeding", "timeout_ms", "feed_interval_ms", "self_fence"],
    },
    events: obj({ dir: str, dropped: int, write_errors: int }),
    metrics: { type: ["object", "null"], properties: { address: str }, required: ["address"] },
    ping: {},
    realtime: {},
    links: { type: "array", items: obj({ name: str }) },
    counters: { type: "object" },
  };
}


/**
 * Checks a value against the subset of JSON Schema used above (type, const,
 * enum, properties, required, items, minimum, maximum, format date-time).
 * Returns the problems as `path: message`; empty when valid.
 */
export function validate(value: unknown, schema: S = status_json_schema, path = "$", out: string[] = [], depth = 0): string[] {
  if (depth > 32 || out.length >= 50) return out;
  const types = schema.type === undefined ? null : Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
  if (types && !types.some((t) => isType(value, t))) {
    out.push(`${path}: expected ${types.join(" or ")}, got ${value === null ? "null" : Array.isArray(value) ? "array" : typeof value}`);
    return out;
  }
  if ("const" in schema && value !== schema.const) out.push(`${path}: must be ${JSON.stringify(schema.const)}, got ${JSON.stringify(value)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) out.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) out.push(`${path}: ${value} < ${schema.minimum}`);
    if (typeof schema.maximum === "number" && value > schema.maximum) out.push(`${path}: ${value} > ${schema.maximum}`);
  }
  if (typeof value === "string" && schema.format === "date-time" && !(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value) && Number.isFinite(Date.parse(value)))) {
    out.push(`${path}: ${JSON.stringify(value)} is not an RFC 3339 date-time`);
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const v = value as S;
    for (const k of (schema.required as string[] | undefined) ?? []) if (!(k in v)) out.push(`${path}: missing ${k}`);
    const props = (schema.properties as Record<string, S> | undefined) ?? {};
    for (const [k, sub] of Object.entries(props)) if (k in v) validate(v[k], sub, `${path}.${k}`, out, depth + 1);
  }
  if (Array.isArray(value) && schema.items) value.forEach((x, i) => validate(x, schema.items as S, `${path}[${i}]`, out, depth + 1));
  return out;
}

function isType(v: unknown, t: string): boolean {
  switch (t) {
    case "null":
      return v === null;
    case "object":
      return v !== null && typeof v === "object" && !Array.isArray(v);
    case "array":
      return Array.isArray(v);
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    default:
      return typeof v === t;
  }
}

// Runs inside one of the lab's network namespaces for test/integration/
// ipaddr.test.ts (`ip netns exec NS bun ipaddr_helper.ts '<json>'`), so the
// addon's address changes and raw packets happen there and never in the test
// runner's (the host's) namespace.
//
// Argument: {"steps": [Step, ...]}, run in order. One JSON line per step on
// stdout: {"i", "op", "ok": true, ...} or {"i", "op", "ok": false, "code", "message"};
// a start also prints {"op": "burst", ...} once its announcements are done
// (unless "wait_burst": false).
//   {"op": "start", "arg": "192.0.2.10/26", "arp_count"?, "arp_interval_ms"?, "garp_mode"?, "wait_burst"?}
//   {"op": "stop", "arg": ...}   {"op": "status", "arg": ...}
//   {"op": "call", "fn": "addrAdd", "args": [...]}   (a raw addon call)
import { NativeIp, type NativeIpOptions, parseIpResource } from "../../src/agents/ipaddr.ts";
import { native } from "../../src/native/addon.ts";

interface Step {
  op: "start" | "stop" | "status" | "call";
  arg?: string;
  arp_count?: number;
  arp_interval_ms?: number;
  garp_mode?: NativeIpOptions["garp_mode"];
  wait_burst?: boolean;
  fn?: string;
  args?: unknown[];
}

function out(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

const { steps } = JSON.parse(process.argv[2] ?? "{}") as { steps: Step[] };
const resources = new Map<string, NativeIp>();
const pending: Promise<void>[] = [];

function resource(s: Step): NativeIp {
  const key = JSON.stringify([s.arg, s.arp_count, s.arp_interval_ms, s.garp_mode]);
  let ip = resources.get(key);
  if (!ip) {
    const spec = parseIpResource([s.arg ?? ""]);
    if (typeof spec === "string") throw Object.assign(new Error(spec), { code: "EPARSE" });
    ip = new NativeIp(spec, {
      arp_count: s.arp_count,
      arp_interval_ms: s.arp_interval_ms,
      garp_mode: s.garp_mode,
      log: (level, msg) => process.stderr.write(`${level}: ${msg}\n`),
    });
    resources.set(key, ip);
  }
  return ip;
}

let failed = false;
for (const [i, s] of steps.entries()) {
  try {
    switch (s.op) {
      case "start": {
        const ip = resource(s);
        const t0 = performance.now();
        await ip.start();
        const call_ms = performance.now() - t0;
        out({ i, op: s.op, ok: true, last_start: ip.last_start, call_ms });
        const burst = ip.burst;
        if (burst && s.wait_burst !== false && !ip.last_start?.already) {
          const r = await burst.done;
          out({ i, op: "burst", ok: true, ...r });
        } else if (burst) {
          pending.push(burst.done.then(() => {}));
        }
        break;
      }
      case "stop":
        await resource(s).stop();
        out({ i, op: s.op, ok: true });
        break;
      case "status":
        out({ i, op: s.op, ok: true, status: await resource(s).status() });
        break;
      case "call": {
        const fn = (native as unknown as Record<string, (...a: unknown[]) => unknown>)[s.fn ?? ""];
        if (typeof fn !== "function") throw new Error(`no addon function ${s.fn}`);
        out({ i, op: s.op, fn: s.fn, ok: true, value: fn(...(s.args ?? [])) ?? null });
        break;
      }
      default:
        throw new Error(`unknown op ${JSON.stringify(s.op)}`);
    }
  } catch (e) {
    const err = e as Error & { code?: string };
    out({ i, op: s.op, fn: s.fn, ok: false, code: err.code ?? err.name, message: err.message });
    failed = true;
  }
}
await Promise.all(pending);
process.exit(failed ? 1 : 0);

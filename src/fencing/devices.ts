// Which devices this node uses to fence each peer, in the order they are
// tried: tandem's `fence` lines and Heartbeat's `stonith` / `stonith_host`,
// together in file order.
//
// Heartbeat 3.0.6 (heartbeat/config.c, set_stonith_info and
// set_stonith_host_info): `stonith TYPE FILE` configures a device from FILE
// (`stonith -t TYPE -F FILE`); `stonith_host HOST TYPE PARAMS...` applies only
// on HOST (lowercased) or everywhere for `*`, and hands the rest of the line to
// the plugin as its parameter string (`stonith -t TYPE -p "PARAMS"`). The
// device may reset any node; which ones it really controls is the plugin's
// business (its hostlist). Heartbeat kept only the last such device and always
// asked for a reset; tandem keeps every applicable line, tried in file order,
// and pins them to "reboot" (cluster-glue's reset).
import type { FenceDeviceSpec, HaConfig } from "../config/types.ts";

/** Devices for every peer of `self`, in file order. Lines fencing `self` are the peers' business. */
export function devicesFor(cfg: HaConfig, self: string): FenceDeviceSpec[] {
  const peers = cfg.nodes.filter((n) => n !== self);
  const out: FenceDeviceSpec[] = cfg.fence_devices.filter((f) => f.target !== self);
  const lower_self = self.toLowerCase();
  for (const h of cfg.stonith_hosts) {
    if (h.from_node !== "*" && h.from_node.toLowerCase() !== lower_self) continue;
    for (const target of peers) {
      out.push({ target, kind: "stonith", agent: h.type, params: [["-p", h.params.join(" ")]], line: h.line, action: "reboot" });
    }
  }
  if (cfg.stonith) {
    for (const target of peers) {
      out.push({ target, kind: "stonith", agent: cfg.stonith.type, params: [["-F", cfg.stonith.file]], line: cfg.stonith.line, action: "reboot" });
    }
  }
  // stable: lines of one kind keep their order, and one line's targets stay in node order
  return out.map((d, i) => ({ d, i })).sort((a, b) => a.d.line - b.d.line || a.i - b.i).map((x) => x.d);
}

/** node -> its devices, in order */
export function devicesByTarget(devices: FenceDeviceSpec[]): Map<string, FenceDeviceSpec[]> {
  const m = new Map<string, FenceDeviceSpec[]>();
  for (const d of devices) m.set(d.target, [...(m.get(d.target) ?? []), d]);
  return m;
}

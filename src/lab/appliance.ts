// Two appliance VMs (image/build.ts) and a client, for tests that need the
// real box: systemd, softdog, NFS/Samba, a full boot and reboot.
//
//   <prefix>client   network namespace: bridge br0 (192.0.2.100/25, the
//                    client), one tap per VM enslaved to it (the VMs' eth0).
//                    qemu runs inside this namespace, so the taps and all
//                    traffic stay there; the host's interfaces are never
//                    touched. The prefix is netns.ts's, so sweep() removes
//                    the namespace of a crashed run.
//   eth0             192.0.2.11 / .12 /25 on the bridge: service network and
//                    heartbeat link 1; the VIP 192.0.2.50 lives here
//   eth1             192.0.2.129 / .130 /26: a direct cable between the two
//                    VMs (-netdev dgram over unix sockets), heartbeat link 2
//   BMCs (option bmc) 192.0.2.101 / .102 on the bridge: ipmi_sim per VM
//                    (src/lab/bmc.ts), whose chassis power is that VM's
//                    qemu; the seed's fence= lines point fence_ipmilan at
//                    them, so the survivor really powers the peer off
//
// Each VM gets its seed through fw_cfg (opt/tandem/seed): one image, two
// boxes. Everything is removed by destroy() (VMs killed by PID, namespace
// deleted, run directories removed), also when a test fails.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fenceIpmilanParams, VmBmc } from "./bmc.ts";
import { newPrefix, Proc, run } from "./netns.ts";
import { type ApplianceBoot, Vm, VmError } from "./vm.ts";

export const vip = "192.0.2.50";
export const client_addr = "192.0.2.100";
const nodes = ["node1", "node2"] as const;
export type NodeName = (typeof nodes)[number];

export interface ApplianceOptions {
  image: ApplianceBoot;
  /** haresources after the VIP, e.g. "systemd:nfs-server systemd:smbd" */
  services?: string;
  keepalive?: string;
  deadtime?: string;
  mem_mb?: number;
  /** a second virtio disk of this size per VM (/dev/vdb), replicated by DRBD r0 (seed disk=) */
  replicated_disk_mb?: number;
  /**
   * A third VM from the same image on the bridge, as the storage client (192.0.2.13/25 on its
   * eth0, set by clientUp()): no seed, so no tandem. The host's kernel may have no NFS or CIFS
   * client; the Debian kernel in the guest has both.
   */
  client_vm?: boolean;
  /** with replicated_disk_mb: a third disk of the same size and cache mode (/dev/vdc), not replicated, to compare against */
  bare_disk?: boolean;
  /**
   * A BMC per VM (ipmi_sim on 192.0.2.101/.102; start() powers the VM on through it) and
   * `fence NODE fence_ipmilan ... action=off` for both nodes in the seed.
   */
  bmc?: boolean;
  /** seed fence_timeout= (s), with bmc */
  fence_timeout_s?: number;
}

/** The BMC's address of node n (option bmc), on the bridge */
export function bmcAddr(n: NodeName): string {
  return `192.0.2.${101 + nodes.indexOf(n)}`;
}

export const client_vm_addr = "192.0.2.13";

export interface NodeStatus {
  node: string;
  nodes: { name: string; state: string }[];
  raw: unknown;
}

function addr(node: NodeName, link: 0 | 1): string {
  const i = nodes.indexOf(node);
  return link === 0 ? `192.0.2.${11 + i}` : `192.0.2.${129 + i}`;
}

export function seedFor(node: NodeName, o: ApplianceOptions): string {
  const peer = node === "node1" ? "node2" : "node1";
  return [
    `node=${node}`,
    `peer=${peer}`,
    `link=eth0 ${addr(node, 0)}/25 ${addr(peer, 0)}`,
    `link=eth1 ${addr(node, 1)}/26 ${addr(peer, 1)}`,
    "key=appliance-test-secret-4f2a9c",
    `vip=${vip}/25/eth0`,
    "preferred=node1",
    ...(o.services ? [`services=${o.services}`] : []),
    ...(o.keepalive ? [`keepalive=${o.keepalive}`] : []),
    ...(o.deadtime ? [`deadtime=${o.deadtime}`] : []),
    ...(o.replicated_disk_mb ? ["disk=/dev/vdb"] : []),
    // off, not reboot: the fenced VM stays off until someone powers it on again
    ...(o.bmc ? nodes.map((x) => `fence=${x} fence_ipmilan ${fenceIpmilanParams(bmcAddr(x))} action=off`) : []),
    ...(o.bmc && o.fence_timeout_s ? [`fence_timeout=${o.fence_timeout_s}`] : []),
    "",
  ].join("\n");
}

export class ApplianceCluster {
  readonly vms = new Map<NodeName, Vm>();
  /** the storage client VM (options.client_vm), or null */
  client: Vm | null = null;
  /** option bmc: each VM's BMC */
  readonly bmcs = new Map<NodeName, VmBmc>();
  private procs: Proc[] = [];
  private constructor(
    readonly ns: string,
    readonly dir: string,
  ) {}

  static async create(o: ApplianceOptions): Promise<ApplianceCluster> {
    const ns = `${newPrefix()}client`;
    const dir = mkdtempSync(join(tmpdir(), "tandem-appliance-"));
    const c = new ApplianceCluster(ns, dir);
    try {
      await c.ip(["netns", "add", ns], true);
      await c.nsRun(["ip", "link", "set", "lo", "up"]);
      await c.nsRun(["ip", "link", "add", "br0", "type", "bridge"]);
      await c.nsRun(["ip", "addr", "add", `${client_addr}/25`, "dev", "br0"]);
      await c.nsRun(["ip", "link", "set", "br0", "up"]);
      if (o.bmc) {
        for (const [i, n] of nodes.entries()) {
          await c.nsRun(["ip", "addr", "add", `${bmcAddr(n)}/25`, "dev", "br0"]);
          const b = new VmBmc(ns, dir, n, bmcAddr(n), 9002 + i);
          c.bmcs.set(n, b);
          await b.start();
        }
      }
      for (const [i, n] of nodes.entries()) {
        const tap = `tap-${n}`;
        await c.nsRun(["ip", "tuntap", "add", "dev", tap, "mode", "tap"]);
        await c.nsRun(["ip", "link", "set", tap, "master", "br0", "up"]);
        const peer = nodes[1 - i]!;
        const vm = new Vm({
          appliance: o.image,
          name: n,
          netns: ns,
          reboot: true,
          mem_mb: o.mem_mb ?? 1024,
          nics: [
            { kind: "tap", ifname: tap, mac: `52:54:00:00:0${i + 1}:00` },
            { kind: "dgram", local: join(dir, `${n}.eth1`), remote: join(dir, `${peer}.eth1`), mac: `52:54:00:00:0${i + 1}:01` },
          ],
          fw_cfg: { "opt/tandem/seed": seedFor(n, o) },
          extra_args: o.replicated_disk_mb ? await c.replicatedDisk(n, o.replicated_disk_mb, o.bare_disk ?? false) : undefined,
          launch: c.bmcs.get(n)?.launcher(),
        });
        c.vms.set(n, vm);
      }
      if (o.client_vm) {
        await c.nsRun(["ip", "tuntap", "add", "dev", "tap-client", "mode", "tap"]);
        await c.nsRun(["ip", "link", "set", "tap-client", "master", "br0", "up"]);
        c.client = new Vm({
          appliance: o.image,
          name: "client",
          netns: ns,
          reboot: false,
          mem_mb: 768,
          nics: [{ kind: "tap", ifname: "tap-client", mac: "52:54:00:00:03:00" }],
        });
      }
    } catch (e) {
      await c.destroy();
      throw e;
    }
    return c;
  }

  /** An empty qcow2 for DRBD (guest /dev/vdb); removed with the run directory. */
  private async replicatedDisk(n: NodeName, mb: number, bare: boolean): Promise<string[]> {
    const out: string[] = [];
    for (const kind of bare ? ["replicated", "bare"] : ["replicated"]) {
      const path = join(this.dir, `${n}-${kind}.qcow2`);
      const r = await run(["qemu-img", "create", "-q", "-f", "qcow2", path, `${mb}M`]);
      if (r.code !== 0) throw new VmError(`qemu-img create ${path}: ${r.stderr.trim()}`);
      // writeback honours the guest's flushes: DRBD's protocol C acks are real
      out.push("-drive", `file=${path},format=qcow2,if=virtio,cache=writeback`);
    }
    return out;
  }

  /** Boots the client VM (bounded) and gives its eth0 192.0.2.13/25; returns ms to its control shell. */
  async clientUp(timeout_ms = 400_000): Promise<number> {
    const vm = this.client;
    if (!vm) throw new VmError("no client VM: create with client_vm: true");
    await vm.start(timeout_ms);
    await vm.sh(`ip link set eth0 up && ip addr replace ${client_vm_addr}/25 dev eth0`, { timeout_ms: 60_000 });
    return vm.boot_ms;
  }

  vm(n: NodeName): Vm {
    return this.vms.get(n)!;
  }

  /**
   * node1 <-> node2 over eth0 blocked (on) or allowed again (off): both node taps become
   * isolated bridge ports, which still reach br0 itself (the client address 192.0.2.100 and
   * the BMCs) and non-isolated ports (the client VM), but not each other. With setLink(1, false)
   * on both VMs (the eth1 cable) that is a full partition of the two nodes, each still serving
   * clients and reaching the BMCs.
   */
  async isolateNodes(on: boolean): Promise<void> {
    for (const n of nodes) {
      const r = await this.nsRun(["bridge", "link", "set", "dev", `tap-${n}`, "isolated", on ? "on" : "off"]);
      if (r.code !== 0) throw new VmError(`bridge link set dev tap-${n} isolated ${on ? "on" : "off"} in ${this.ns}: ${r.stderr.trim()}`);
    }
  }

  /** node n's BMC (option bmc) */
  bmc(n: NodeName): VmBmc {
    const b = this.bmcs.get(n);
    if (!b) throw new VmError("no BMCs: create with bmc: true");
    return b;
  }

  private async ip(argv: string[], must = true): Promise<string> {
    const r = await run(["ip", ...argv]);
    if (must && r.code !== 0) throw new VmError(`ip ${argv.join(" ")}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** A command in the client namespace (bounded). */
  async nsRun(argv: string[], timeout_ms = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
    const r = await run(["ip", "netns", "exec", this.ns, ...argv], timeout_ms);
    if (r.code !== 0 && argv[0] === "ip") throw new VmError(`${argv.join(" ")} in ${this.ns}: ${r.stderr.trim()}`);
    return r;
  }

  /** A long-running process in the client namespace (e.g. ping), stopped by destroy(). */
  spawnClient(argv: string[]): Proc {
    const sub = Bun.spawn(["ip", "netns", "exec", this.ns, ...argv], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const p = new Proc(this.ns, argv, sub);
    this.procs.push(p);
    return p;
  }

  /** Boots the VM(s) in parallel and waits for each control shell, then for systemd to finish booting. Returns ms per VM. */
  async boot(which: NodeName[] = [...nodes], timeout_ms = 400_000): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    await Promise.all(
      which.map(async (n) => {
        const vm = this.vm(n);
        await vm.start(timeout_ms);
        out[n] = await this.waitSystem(n, timeout_ms);
      }),
    );
    return out;
  }

  /** `systemctl is-system-running --wait` (bounded): ms from qemu start to the end of the boot. Throws unless running. */
  async waitSystem(n: NodeName, timeout_ms = 400_000): Promise<number> {
    const vm = this.vm(n);
    const r = await vm.sh("timeout 600 systemctl is-system-running --wait", { timeout_ms, check: false });
    const state = r.out.trim().split("\n").pop() ?? "";
    if (state !== "running") {
      const failed = (await vm.sh("systemctl --failed --no-legend --plain", { check: false })).out;
      throw new VmError(`${n}: systemd is ${JSON.stringify(state)}, failed units:\n${failed}`);
    }
    return performance.now() - vm.started_ms;
  }

  /** `tandem status --json` in the guest. */
  async status(n: NodeName): Promise<NodeStatus> {
    const r = await this.vm(n).sh("tandem status --json", { timeout_ms: 30_000 });
    const raw = JSON.parse(r.out) as { node: string; nodes: { name: string; state: string }[] };
    return { node: raw.node, nodes: raw.nodes.map((x) => ({ name: x.name, state: x.state })), raw };
  }

  /** Does node n hold the VIP (on eth0)? */
  async holdsVip(n: NodeName): Promise<boolean> {
    const r = await this.vm(n).sh("ip -4 -o addr show dev eth0", { timeout_ms: 30_000 });
    return r.out.includes(` ${vip}/`);
  }

  /** Polls pred (bounded) until it returns true. */
  async waitFor(what: string, pred: () => Promise<boolean>, timeout_ms: number, every_ms = 1000): Promise<number> {
    const t0 = performance.now();
    let last: unknown = null;
    for (;;) {
      try {
        if (await pred()) return performance.now() - t0;
      } catch (e) {
        last = e;
      }
      if (performance.now() - t0 > timeout_ms) throw new VmError(`timeout (${timeout_ms} ms) waiting for ${what}${last ? `: ${String(last).slice(0, 500)}` : ""}`);
      await Bun.sleep(every_ms);
    }
  }

  /** Both nodes see each other up. */
  async waitFormed(timeout_ms = 180_000): Promise<number> {
    return this.waitFor(
      "both nodes up in tandem status",
      async () => {
        for (const n of nodes) {
          if (!this.vm(n).running) return false;
          const st = await this.status(n);
          if (!st.nodes.every((x) => x.state === "up" || x.state === "self")) return false;
        }
        return true;
      },
      timeout_ms,
    );
  }

  /** Everything this cluster made: client processes, VMs (by PID), the namespace, the run directory. Idempotent. */
  async destroy(): Promise<void> {
    for (const p of this.procs) await p.stop(1000);
    this.procs = [];
    for (const vm of this.vms.values()) await vm.stop();
    await this.client?.stop();
    for (const b of this.bmcs.values()) await b.stop();
    await run(["ip", "netns", "del", this.ns]);
    if (process.env.TANDEM_VM_KEEP !== "1") rmSync(this.dir, { recursive: true, force: true });
  }
}

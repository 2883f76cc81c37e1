// Fencing real targets from one namespace to the other:
//
//  - ipmi_sim (Debian openipmi) is node2's BMC, listening on node2's address.
//    Its `startcmd` is node2's "machine": a real tandem daemon. A chassis
//    power-off makes ipmi_sim SIGTERM that process (through its VM serial
//    channel's power handling; no VM ever connects, so it acts at once); the
//    machine script turns that into a SIGKILL of the daemon, a power cut with
//    no goodbye packet. fence_ipmilan (fence-agents, through ipmitool) drives
//    it from node1's namespace via `tandem fence`, then reports "Status: OFF".
//  - cluster-glue's `stonith -t external/ssh` against sshd in node2's
//    namespace. The plugin runs `ssh root@node2 "echo 'sleep 2; /sbin/reboot
//    -nf' | at now"`, which would reboot THIS machine (the namespaces share its
//    kernel). So sshd's ForceCommand replaces every command with a script that
//    records what was asked, SIGKILLs node2's daemon and takes node2's link
//    down, as a reboot would; the plugin then pings node2 to confirm it is
//    gone (it reports failure while the node still answers).
//    ssh, run as root, reads and writes ~/.ssh of root's passwd home (not
//    $HOME), so the fencer's commands run in a private mount namespace with a
//    temp dir bound over /root and a temp hosts file (node1, node2) over
//    /etc/hosts; sshd gets a private tmpfs /run for its privsep directory.
//    Nothing outside the namespaces and the temp dir is touched.
//  - devices that fail (wrong password, a BMC address nobody answers): a
//    clear detail within fence_timeout, and the next device in order is tried.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkHaCf } from "../../src/config/hacf.ts";
import type { HaConfig } from "../../src/config/types.ts";
import type { Fields } from "../../src/daemon/log.ts";
import { makeFencer } from "../../src/fencing/fencer.ts";
import { LabDaemon, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, ipv4, type Proc, writeConfigDir } from "../../src/lab/netns.ts";
import { ipmiFenceLine, pidAlive, SimMachine } from "./bmc.ts";
import { netnsAvailable, tandem } from "./support.ts";

const timing = { keepalive_ms: 100, deadtime_ms: 1000, initdead_ms: 2000 };
const secret = "fencing-secret";
/** an address on link 0 that no namespace has: a BMC that never answers */
const dead_bmc = ipv4(0, 40);

function parse(text: string): HaConfig {
  const r = checkHaCf(text, "ha.cf", { self_node: "node1" });
  if (!r.config) throw new Error(r.diagnostics.map((d) => `${d.line}: ${d.message}`).join("\n"));
  return r.config;
}

function events() {
  const list: { name: string; fields: Fields }[] = [];
  return { list, log: { event: (name: string, fields: Fields) => void list.push({ name, fields }) } };
}

if (netnsAvailable("fencing.test.ts")) {
  describe("fence_ipmilan against ipmi_sim, the BMC of node2", () => {
    let c: Cluster;
    let node1: LabDaemon;
    let m2: SimMachine;
    let n2_ip = "";
    const cmd = tandem.argv;
    const pidFile = () => m2.pid;

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1 });
      n2_ip = c.node("node2").links[0]!.v4;
      const text = haCf(c, timing);
      node1 = new LabDaemon(c, c.node("node1"), cmd);
      writeConfigDir(node1.dir, text, authkeys(secret));
      // node2 is started by its BMC, not by the test
      m2 = new SimMachine(c, "node2", n2_ip, cmd);
      await m2.start(text, secret);
      await node1.start();
      const mutual = await node1.waitEvent({ event: "node_up", node: "node2" }, 10_000);
      if (!mutual) throw new Error(`node1 never saw node2 up:\n${node1.output.slice(-10).join("\n")}`);
    });

    afterAll(async () => {
      m2?.kill();
      await c?.destroy();
    });

    const ipmi = (password: string, ip = n2_ip) => ipmiFenceLine("node2", ip, password);

    test("failing devices (wrong password, a BMC that never answers) fail clearly within fence_timeout, each followed by the next; the node stays up", async () => {
      const { list, log } = events();
      // fence_ipmilan needs about 20 s to give up on a silent BMC: with 8 s in
      // all, the fencer kills it (python, ipmitool and all) and still reaches the manual device
      const cfg = parse(`${haCf(c, timing)}${ipmi("wrong")}\n${ipmi("secret", dead_bmc)}\nfence node2 manual\nfence_timeout 8\n`);
      const fencer = makeFencer(cfg, "node1", log, { wrap: ["ip", "netns", "exec", c.node("node1").ns] });
      const r = await fencer.fence("node2", "off");
      expect(r.ok).toBe(false);
      expect(r.duration_ms).toBeLessThanOrEqual(8000 + 500);
      expect(r.device).toBe("manual");
      expect(list.map((e) => [e.fields.line, e.fields.ok])).toEqual(cfg.fence_devices.map((f) => [f.line, false]));
      // fence-agents' own words for the wrong password, the fencer's for the silent BMC
      expect(String(list[0]!.fields.detail)).toMatch(/^action=off exit 1: ERROR: Failed: /);
      expect(list[1]!.fields).toMatchObject({ timed_out: true, detail: expect.stringMatching(/^action=off timed out after \d+ ms \(killed\)$/) });
      expect(r.detail).toStartWith("waiting for `tandem fence-confirm node2`; fence_ipmilan: action=off exit 1: ERROR: Failed: ");
      expect(r.detail).toContain("; fence_ipmilan: action=off timed out after");
      expect(pidAlive(pidFile()!)).toBe(true);
    }, 30_000);

    test("tandem fence powers node2 off through fence_ipmilan after a failing device: the daemon is gone, the BMC says OFF", async () => {
      const pid = pidFile()!;
      expect(pidAlive(pid)).toBe(true);
      const from = node1.events.length;
      writeConfigDir(node1.dir, `${haCf(c, timing)}${ipmi("wrong")}\n${ipmi("secret")}\nfence_timeout 40\n`, authkeys(secret));
      const r = await c.exec(c.node("node1").ns, [...cmd, "fence", "node2", "--dir", node1.dir, "--node", "node1"], 60_000);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/^node2: fenced by fence_ipmilan in \d+ ms: fence_ipmilan \(line \d+\): action=off exit 0: Success: Powered OFF; status: Status: OFF/);
      // both attempts on stderr: the wrong password, then the right one
      const attempts = r.stderr.split("\n").filter((l) => l.startsWith("fence_attempt "));
      expect(attempts.length, r.stderr).toBe(2);
      expect(attempts[0]).toContain("ok=false");
      expect(attempts[1]).toContain("ok=true");
      // the power cut killed the daemon: no goodbye, so node1 declares it dead by deadtime
      expect(await until(() => !pidAlive(pid), 5000)).toBe(true);
      const dead = await node1.waitEvent({ event: "node_dead", node: "node2" }, 5000, from);
      expect(dead?.fields.reason).toBe("deadtime");
      const status = await c.exec(
        c.node("node1").ns,
        ["sh", "-c", `printf 'action=status\\nip=${n2_ip}\\nusername=admin\\npassword=secret\\nlanplus=1\\ncipher=3\\n' | fence_ipmilan`],
        30_000,
      );
      expect(status.code).toBe(2);
      expect(status.stdout.trim()).toBe("Status: OFF");
    }, 90_000);
  });

  describe("cluster-glue stonith external/ssh against sshd in node2's namespace", () => {
    let c: Cluster;
    const d: Record<string, LabDaemon> = {};
    let tmp = "";
    let sshd: Proc;

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1 });
      tmp = join(c.tmp, "ssh");
      const home = join(tmp, "home");
      mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
      const text = haCf(c, timing);
      for (const h of c.nodes) {
        d[h.name] = new LabDaemon(c, h, tandem.argv);
        writeConfigDir(d[h.name]!.dir, text, authkeys(secret));
      }
      await Promise.all(Object.values(d).map((x) => x.start()));
      const keygen = async (file: string) => {
        const r = await c.exec(c.node("node1").ns, ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tandem-test", "-f", file]);
        if (r.code !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
      };
      await keygen(join(home, ".ssh/id_ed25519"));
      await keygen(join(tmp, "host_key"));
      writeFileSync(join(tmp, "authorized_keys"), readFileSync(join(home, ".ssh/id_ed25519.pub")), { mode: 0o600 });
      const n2 = c.node("node2");
      writeFileSync(join(tmp, "hosts"), `127.0.0.1 localhost\n${c.node("node1").links[0]!.v4} node1\n${n2.links[0]!.v4} node2\n`);
      writeFileSync(join(tmp, "node2.pid"), String(d.node2!.proc!.pid));
      writeFileSync(
        join(tmp, "power-cut.sh"),
        [
          "#!/bin/sh",
          "# sshd's ForceCommand: never run what external/ssh sends (a real reboot of this kernel)",
          `printf '%s\\n' "$SSH_ORIGINAL_COMMAND" >> ${tmp}/ssh-commands`,
          `kill -KILL "$(cat ${tmp}/node2.pid)"`,
          "# the rebooting machine leaves the network once this session has closed",
          `setsid sh -c 'sleep 0.3; ip link set ${n2.links[0]!.iface} down' </dev/null >/dev/null 2>&1 &`,
          "exit 0",
          "",
        ].join("\n"),
        { mode: 0o755 },
      );
      writeFileSync(
        join(tmp, "sshd_config"),
        [
          `ListenAddress ${n2.links[0]!.v4}:22`,
          `HostKey ${tmp}/host_key`,
          "PidFile none",
          "UsePAM no",
          "PermitRootLogin prohibit-password",
          "PasswordAuthentication no",
          "KbdInteractiveAuthentication no",
          `AuthorizedKeysFile ${tmp}/authorized_keys`,
          "StrictModes no",
          `ForceCommand ${tmp}/power-cut.sh`,
          "",
        ].join("\n"),
      );
      // a private /run for sshd's privilege separation directory (ip netns exec gives a private mount namespace)
      sshd = c.spawn(n2.ns, ["sh", "-c", 'mount -t tmpfs tandem-sshd /run && mkdir -m 755 /run/sshd && exec /usr/sbin/sshd -D -e -f "$0"', join(tmp, "sshd_config")]);
      if (!(await sshd.waitLine(/Server listening/, 10_000))) throw new Error(`sshd did not start:\n${sshd.lines.join("\n")}`);
      if (!(await d.node1!.waitEvent({ event: "node_up", node: "node2" }, 10_000))) throw new Error("node1 never saw node2 up");
    });

    afterAll(async () => {
      await c?.destroy();
    });

    test("stonith -t external/ssh -T reset node2: sshd's ForceCommand cuts node2's power, node1 sees it die", async () => {
      const { list, log } = events();
      // the plugin supports reset only, so the line pins action=reboot; the core's "off" becomes -T reset
      const cfg = parse(`${haCf(c, timing)}fence node2 stonith external/ssh hostlist=node2 action=reboot\nfence_timeout 40\n`);
      const n1 = c.node("node1").ns;
      const wrap = ["ip", "netns", "exec", n1, "sh", "-c", 'mount --bind "$0/home" /root && mount --bind "$0/hosts" /etc/hosts && exec "$@"', tmp];
      const from = d.node1!.events.length;
      const pid = d.node2!.proc!.pid;
      const r = await makeFencer(cfg, "node1", log, { wrap }).fence("node2", "off");
      expect(r.ok, `${r.detail}\n${sshd.lines.slice(-10).join("\n")}`).toBe(true);
      expect(r.device).toBe("external/ssh");
      expect(r.detail).toContain("-T reset exit 0");
      expect(list[0]!.fields).toMatchObject({ kind: "stonith", action: "reboot", ok: true, code: 0 });
      // what the plugin asked for, which the ForceCommand did not run
      expect(readFileSync(join(tmp, "ssh-commands"), "utf8")).toContain("/sbin/reboot -nf");
      expect(await until(() => !pidAlive(pid), 5000)).toBe(true);
      const dead = await d.node1!.waitEvent({ event: "node_dead", node: "node2" }, 5000, from);
      expect(dead?.fields.reason).toBe("deadtime");
    }, 60_000);
  });
}


// The agent layer against the real Debian resource-agents package: Dummy on
// the host (its state file in a temp dir), IPaddr2 only inside a namespace
// created here (192.0.2.0/26, link 0 of a one-node cluster). Needs
// `apt-get install resource-agents`; IPaddr2 also needs root and `ip netns`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAgent, type OcfAgent, resolveResource } from "../../src/agents/mod.ts";
import { type Cluster, createCluster, run } from "../../src/lab/netns.ts";
import { must_run, netnsAvailable } from "./support.ts";

const ocf_root = "/usr/lib/ocf";
const installed = existsSync(`${ocf_root}/resource.d/heartbeat/Dummy`) && existsSync(`${ocf_root}/resource.d/heartbeat/IPaddr2`);

function brief(r: { ok: boolean; status: string; reason?: string }): string {
  return r.ok ? `ok:${r.status}` : `${r.status}:${r.reason}`;
}

if (!installed) {
  const why = "the resource-agents package is not installed (apt-get install resource-agents)";
  if (must_run) {
    test("agents.test.ts: resource-agents is installed", () => {
      throw new Error(why);
    });
  } else {
    process.stderr.write(`\n[skip] agents.test.ts: ${why}\n`);
    test.skip(`agents.test.ts: skipped (${why})`, () => {});
  }
} else {
  const tmp = mkdtempSync(join(tmpdir(), "tandem-agents-it-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  describe("ocf:heartbeat:Dummy (real)", () => {
    test("start / monitor / stop with the state file in a temp dir", async () => {
      const state = join(tmp, "dummy.state");
      const r = await resolveResource("ocf:heartbeat:Dummy", [`state=${state}`], { ocfRoot: ocf_root });
      expect(r.kind).toBe("ocf");
      const a = createAgent(r, { instance: "dummy1", env: { HA_RSCTMP: tmp } }) as OcfAgent;
      const seq: string[] = [];
      const step = async (name: "start" | "stop" | "monitor", file: boolean) => {
        seq.push(`${name}=${brief(await a[name]())}`);
        expect(`${name}: state file ${existsSync(state)}`).toBe(`${name}: state file ${file}`);
      };
      await step("monitor", false);
      await step("start", true);
      await step("monitor", true);
      await step("start", true); // starting a started resource is a success
      await step("stop", false);
      await step("monitor", false);
      await step("stop", false); // and so is stopping a stopped one
      expect(seq).toEqual(["monitor=ok:stopped", "start=ok:running", "monitor=ok:running", "start=ok:running", "stop=ok:stopped", "monitor=ok:stopped", "stop=ok:stopped"]);
      expect(brief(await a.validate())).toBe("ok:done");
    });

    test("timeouts come from Dummy's meta-data", async () => {
      const r = await resolveResource("ocf:heartbeat:Dummy", [`state=${join(tmp, "d2.state")}`], { ocfRoot: ocf_root });
      const a = createAgent(r) as OcfAgent;
      const { result, meta } = await a.metaData();
      expect(brief(result)).toBe("ok:done");
      expect(meta?.name).toBe("Dummy");
      expect(meta?.parameters.map((p) => p.name)).toContain("state");
      for (const action of ["start", "stop", "monitor", "validate-all"] as const) {
        expect(await a.timeoutFor(action)).toEqual({ timeout_ms: 20_000, source: "meta-data" });
      }
      const md = meta!.actions.find((x) => x.name === "meta-data");
      expect(md?.timeout_ms).toBe(5000);
    });

    test("an invalid configuration maps to a named failure", async () => {
      // Dummy's validate-all: the state file's directory must be writable
      const r = await resolveResource("ocf:heartbeat:Dummy", ["state=/nonexistent-dir/x/dummy.state"], { ocfRoot: ocf_root });
      const v = await (createAgent(r, { env: { HA_RSCTMP: tmp } }) as OcfAgent).validate();
      expect(v.ok).toBe(false);
      expect(v.code).not.toBe(0);
    });
  });

  if (netnsAvailable("agents.test.ts")) {
    describe("ocf:heartbeat:IPaddr2 (real, in a namespace)", () => {
      let c: Cluster;
      let ns = "";
      const vip = "192.0.2.10";
      const hostHasVip = async () => (await run(["ip", "-4", "-o", "addr", "show"])).stdout.includes(` ${vip}/`);
      const nsHasVip = async () => (await c.exec(ns, ["ip", "-4", "-o", "addr", "show", "dev", "veth-a"])).stdout.includes(` ${vip}/26 `);
      let agent: OcfAgent;

      beforeAll(async () => {
        expect(await hostHasVip()).toBe(false); // never touch a host address
        c = await createCluster({ nodes: 1, links: 1 });
        ns = c.node("node1").ns;
        const r = await resolveResource("ocf:heartbeat:IPaddr2", [`ip=${vip}`, "cidr_netmask=26"], { ocfRoot: ocf_root });
        agent = createAgent(r, { wrap: ["ip", "netns", "exec", ns], instance: "vip1", env: { HA_RSCTMP: tmp } }) as OcfAgent;
      });

      afterAll(async () => {
        try {
          if (c && (await nsHasVip())) await agent.stop();
        } finally {
          await c?.destroy();
        }
      });

      test("start, monitor running, stop, monitor not running", async () => {
        expect(brief(await agent.monitor())).toBe("ok:stopped");
        const s = await agent.start();
        expect(`${brief(s)} ${s.ok ? "" : s.output}`).toBe("ok:running ");
        expect(await nsHasVip()).toBe(true);
        expect(await hostHasVip()).toBe(false);
        expect(brief(await agent.monitor())).toBe("ok:running");
        // the address answers inside the namespace
        expect((await c.exec(ns, ["ping", "-c", "1", "-W", "1", vip])).code).toBe(0);
        expect(brief(await agent.stop())).toBe("ok:stopped");
        expect(await nsHasVip()).toBe(false);
        expect(brief(await agent.monitor())).toBe("ok:stopped");
        expect(brief(await agent.stop())).toBe("ok:stopped");
        expect(await hostHasVip()).toBe(false);
      });

      test("timeouts come from IPaddr2's meta-data (read through the wrap)", async () => {
        for (const action of ["start", "stop", "monitor"] as const) {
          expect(await agent.timeoutFor(action)).toEqual({ timeout_ms: 20_000, source: "meta-data" });
        }
      });

      test("a bad address is a configuration failure, not a crash", async () => {
        const r = await resolveResource("ocf:heartbeat:IPaddr2", ["ip=192.0.2.300", "cidr_netmask=26"], { ocfRoot: ocf_root });
        const a = createAgent(r, { wrap: ["ip", "netns", "exec", ns], instance: "bad", env: { HA_RSCTMP: tmp } });
        const s = await a.start();
        expect(s.ok).toBe(false);
        expect(brief(s)).toBe("failed:not-configured");
        if (!s.ok) expect(s.error).toBe("ocf:heartbeat:IPaddr2(bad) start: exit 6 (OCF_ERR_CONFIGURED): [findif] failed");
      });
    });
  }
}

// makeFencer().powerStatus: the read-only power status behind the fence
// delay's "already off" (core/fencing.ts), against local test agents. The
// real fence_ipmilan + ipmi_sim is in test/integration/fence_status.test.ts.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { groupAlive } from "../../src/agents/runner.ts";
import { checkHaCf } from "../../src/config/hacf.ts";
import type { HaConfig } from "../../src/config/types.ts";
import { makeFencer } from "../../src/fencing/fencer.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const fixtures = join(import.meta.dir, "../fixtures/fencing");
const record = join(fixtures, "fence_record");
const hang = join(fixtures, "fence_hang");
const freshDir = scratchDirs("tandem-fence-status-");
const quiet = { event: () => {} };

function cfg(extra: string): HaConfig {
  const r = checkHaCf(`node node1 node2\nucast eth1 192.0.2.1\nauto_failback off\n${extra}`, "/etc/ha.d/ha.cf");
  if (!r.config) throw new Error(r.diagnostics.map((d) => `${d.line}: ${d.message}`).join("\n"));
  return r.config;
}

describe("power status for the fence delay", () => {
  test("OFF (exit 2) and ON (exit 0): only action=status is ever sent", async () => {
    const out = join(freshDir(), "calls");
    const off = await makeFencer(cfg(`fence node2 ${record} out=${out} status=off\n`), "node1", quiet).powerStatus("node2");
    expect(off.off).toBe(true);
    expect(off.detail).toMatch(/action=status exit 2: Status: OFF/);
    const on = await makeFencer(cfg(`fence node2 ${record} out=${out} status=on\n`), "node1", quiet).powerStatus("node2");
    expect(on.off).toBe(false);
    const calls = readFileSync(out, "utf8").trim().split("\n");
    expect(calls).toHaveLength(2);
    for (const c of calls) expect(c).toStartWith("action=status;");
  });

  test("the first fence-agents device answers; stonith and manual devices are never asked", async () => {
    const out = join(freshDir(), "calls");
    const f = makeFencer(cfg(`fence node2 manual\nfence node2 stonith external/ssh hostlist=node2\nfence node2 ${record} out=${out} status=off\n`), "node1", quiet);
    expect((await f.powerStatus("node2")).off).toBe(true);
    const only_stonith = makeFencer(cfg("fence node2 stonith external/ssh hostlist=node2\n"), "node1", quiet);
    expect(await only_stonith.powerStatus("node2")).toMatchObject({ off: null, duration_ms: 0 });
    expect((await only_stonith.powerStatus("node1")).off).toBeNull(); // itself
  });

  test("a hung agent: unknown within the bound, killed; a second caller shares the call", async () => {
    const pidfile = join(freshDir(), "pid");
    const f = makeFencer(cfg(`fence node2 ${hang} pidfile=${pidfile}\nfence_timeout 1\n`), "node1", quiet);
    const [a, b] = await Promise.all([f.powerStatus("node2"), f.powerStatus("node2")]);
    expect(b).toBe(a);
    expect(a.off).toBeNull();
    expect(a.detail).toContain("timed out after");
    const pid = Number(readFileSync(pidfile, "utf8"));
    for (let i = 0; i < 100 && (await groupAlive(pid)); i++) await Bun.sleep(50);
    expect(await groupAlive(pid)).toBe(false);
  });
});

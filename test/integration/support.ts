// Shared pieces of the namespace integration tests: whether they can run
// here, which tandem executable they drive, and a cluster whose daemons are
// (re)started with a given configuration.
import { expect, test } from "bun:test";
import { LabDaemon, preferredCommand, until } from "../../src/lab/daemons.ts";
import { heartbeatMissing } from "../../src/lab/heartbeat.ts";
import { authkeys, type Cluster, createCluster, type HaCfOptions, haCf, unavailableReason, writeConfigDir } from "../../src/lab/netns.ts";

export const why_not = await unavailableReason();
/** On CI (or with TANDEM_REQUIRE_NETNS=1) a missing namespace capability is a failure, not a skip. */
export const must_run = process.env.CI !== undefined || process.env.TANDEM_REQUIRE_NETNS === "1";

/** Call at the top of a test file; returns true when the file's tests should be registered. */
export function netnsAvailable(file: string): boolean {
  if (!why_not) return true;
  if (must_run) {
    test(`${file}: network namespaces are available`, () => {
      throw new Error(`integration tests must run here (CI / TANDEM_REQUIRE_NETNS=1) but: ${why_not}`);
    });
  } else {
    process.stderr.write(`\n[skip] ${file}: namespace integration tests skipped: ${why_not}\n`);
    test.skip(`${file}: skipped (${why_not})`, () => {});
  }
  return false;
}

/**
 * netnsAvailable, and Debian's Heartbeat 3.0.6 (plus whatever `missing`
 * reports) installed: on CI a missing peer is a failing test, elsewhere a skip.
 */
export function heartbeatAvailable(file: string, missing: string | null = heartbeatMissing(), needs = "Heartbeat 3.0.6 is installed"): boolean {
  if (!netnsAvailable(file)) return false;
  if (missing === null) return true;
  if (must_run) test(`${file}: ${needs}`, () => void expect(missing).toBeNull());
  else test.skip(`${file}: skipped (${missing})`, () => {});
  return false;
}

/** A Heartbeat-style resource.d script: its name is the service; state and log in WORK. */
export function hbServiceScript(file: string, work: string): string {
  return `#!/bin/sh
# written by test/integration/${file}
S=$(basename "$0")
ST=${work}/$S.state
echo "$(date +%s%N) $S $1" >> ${work}/events.log
case "$1" in
  start) touch "$ST" ;;
  stop) rm -f "$ST" ;;
  status) if [ -e "$ST" ]; then echo "$S running"; else echo "$S stopped"; fi ;;
  *) echo "usage: $0 {start|stop|status}"; exit 1 ;;
esac
exit 0
`;
}

export const tandem = preferredCommand();

export interface ClusterConfig extends HaCfOptions {
  /** authkeys secret per node (default: the same for all) */
  secrets?: Record<string, string>;
}

/** One namespace topology shared by a file's tests; daemons restarted when the wanted config changes. */
export class TestCluster {
  daemons = new Map<string, LabDaemon>();
  private config_key = "";

  private constructor(readonly c: Cluster) {}

  static async create(): Promise<TestCluster> {
    return new TestCluster(await createCluster({ nodes: 2, links: 2, ipv6: true }));
  }

  d(name: string): LabDaemon {
    const d = this.daemons.get(name);
    if (!d) throw new Error(`no daemon ${name}`);
    return d;
  }

  /** Write the config for every node and start both daemons (after stopping any). Reuses running daemons with the same config. */
  async ensure(cfg: ClusterConfig): Promise<void> {
    const key = JSON.stringify(cfg);
    if (key === this.config_key && [...this.daemons.values()].every((d) => d.running)) return;
    await this.stopAll();
    const text = haCf(this.c, cfg);
    for (const h of this.c.nodes) {
      const d = this.daemons.get(h.name) ?? new LabDaemon(this.c, h, tandem.argv);
      this.daemons.set(h.name, d);
      writeConfigDir(d.dir, text, authkeys(cfg.secrets?.[h.name] ?? "integration-secret"));
    }
    await Promise.all([...this.daemons.values()].map((d) => d.start()));
    this.config_key = key;
  }

  /** Both daemons see each other up (bounded); returns false on timeout. */
  async mutualUp(timeout_ms = 8000): Promise<boolean> {
    const ok = await until(async () => {
      const [a, b] = await Promise.all([this.d("node1").tryStatus(), this.d("node2").tryStatus()]);
      return a?.nodes.find((n) => n.name === "node2")?.state === "up" && b?.nodes.find((n) => n.name === "node1")?.state === "up";
    }, timeout_ms);
    return ok === true;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.daemons.values()].map((d) => d.stop()));
    this.config_key = "";
  }

  /** The daemons' recent output, to append to a failure. */
  dump(lines = 25): string {
    let s = "";
    for (const d of this.daemons.values()) s += `\n--- ${d.name} (last ${lines} lines):\n${d.output.slice(-lines).join("\n")}`;
    return s;
  }

  /** Run a test body; on failure, rethrow with the daemons' output attached. */
  async run(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (e) {
      const err = e as Error;
      err.message = `${err.message}${this.dump()}`;
      throw err;
    }
  }

  async destroy(): Promise<void> {
    await this.c.destroy();
  }
}

/** Run the real CLI (host namespace: the control socket is a filesystem path); env: only PATH and these (as DRBD runs its handlers). */
export async function cli(args: string[], timeout_ms = 10_000, env?: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = Bun.spawn([...tandem.argv, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", ...(env ? { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } } : {}) });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeout_ms);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

// `tandem lab` end to end (real daemons in namespaces, down to the service
// failover seen from the client), plus its argument
// handling and its refusal to run unprivileged.
import { describe, expect, test } from "bun:test";
import { runLab } from "../../src/lab/lab.ts";
import { listNamespaces } from "../../src/lab/netns.ts";
import { netnsAvailable, tandem } from "./support.ts";

function capture() {
  const o = { out: "", err: "" };
  return { o, sink: { stdout: (s: string) => void (o.out += s), stderr: (s: string) => void (o.err += s) } };
}

describe("tandem lab: arguments", () => {
  test("bad arguments print the usage and exit 2", async () => {
    for (const args of [["--bogus"], ["--keepalive-ms", "abc"], ["--keepalive-ms", "100", "--deadtime-ms", "150"], ["extra"]]) {
      const { o, sink } = capture();
      expect(await runLab(args, sink)).toBe(2);
      expect(o.err).toContain("usage: tandem lab");
      expect(o.out).toBe("");
    }
  });

  test("--help prints the usage and exits 0", async () => {
    const { o, sink } = capture();
    expect(await runLab(["--help"], sink)).toBe(0);
    expect(o.out).toContain("usage: tandem lab");
  });
});

if (netnsAvailable("lab.test.ts")) {
  describe(`tandem lab: the whole story (${tandem.why})`, () => {
    test("runs to the end, reports the detection, and leaves nothing behind", async () => {
      const before = new Set(await listNamespaces());
      const { o, sink } = capture();
      const code = await runLab(["--keepalive-ms", "50", "--deadtime-ms", "400"], sink, { cmd: tandem.argv });
      const msg = `stdout:\n${o.out}\nstderr:\n${o.err}`;
      expect(code, msg).toBe(0);
      // every check carries the whole output: a failure on CI must say why
      const has = (t: string) => expect(o.out, msg).toContain(t);
      const like = (r: RegExp) => expect(o.out, msg).toMatch(r);
      has("node_dead node=node2 reason=deadtime");
      like(/last heard \d+ ms before \(deadtime 400 ms\), [\d.]+ ms after the deadline/);
      has("node_up node=node2");
      has("rejoined=true");
      has("link_down node=node2");
      // the service step: the holder (node1, its preferred node, unless its
      // start failed on a loaded machine: the lab then fails over node2)
      // served the page, died, the other took the VIP and serves it now
      has("fail the service over");
      const served = o.out.match(/-> GET http:\/\/192\.0\.2\.50:8080\/: "served by (node[12])"/);
      expect(served, msg).not.toBeNull();
      const holder = served![1]!;
      const survivor = holder === "node1" ? "node2" : "node1";
      like(new RegExp(`\\d+ ms {2}${survivor}: node_dead node=${holder} reason=deadtime \\(detection\\)`));
      like(new RegExp(`\\d+ ms {2}${survivor}: resource_ok resource=192\\.0\\.2\\.50\\/26\\/veth-a action=start \\(takeover`));
      like(new RegExp(`\\d+ ms {2}client: GET http:\\/\\/192\\.0\\.2\\.50:8080\\/ -> "served by ${survivor}"`));
      like(/\d+ ms {2}client: first ping reply from 192\.0\.2\.50/);
      like(new RegExp(`ok: service failover: .* got "served by ${survivor}" after \\d+ ms`));
      has("timeline");
      has("lab removed");
      // only this process's names (tdm<pid>r...): other test runs on the machine make their own meanwhile
      const after = (await listNamespaces()).filter((n) => !before.has(n) && n.startsWith(`tdm${process.pid}r`));
      expect(after, msg).toEqual([]);
      // no web server of this run is left (they serve a docroot under the run's scratch dir)
      const left = (await Bun.$`ps -eo pid=,args=`.quiet().nothrow().text()).split("\n").filter((l) => /http\.server|busybox httpd/.test(l) && /\/tdm\d+r[0-9a-f]{4}-/.test(l));
      expect(left, msg).toEqual([]);
    });

    test("refuses to run without root, with a clear message (exit 1)", async () => {
      // the real CLI as user nobody; needs setpriv (util-linux)
      if (!Bun.which("setpriv")) return;
      const p = Bun.spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", ...tandem.argv, "lab"], {
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
      const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      clearTimeout(timer);
      if (/EACCES|Permission denied|cannot open|not found/i.test(stderr) && !stderr.includes("tandem lab")) {
        // the executable itself is not readable by nobody here (e.g. under /root): nothing to learn
        process.stderr.write(`[skip] non-root lab check: ${stderr.trim().split("\n")[0]}\n`);
        return;
      }
      expect(code, `stdout:${stdout}\nstderr:${stderr}`).toBe(1);
      expect(stderr).toContain("run it as root");
    });
  });
}

// tandem config push over real TCP on loopback: the daemon side
// (startSyncServer) serves node2's directory, the CLI (runConfig) pushes
// node1's. Diff, write, refusals that would split the cluster, and
// authentication by authkeys.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { runConfig } from "../../src/cli/config_push.ts";
import { parseFiles, pushRefusal, startSyncServer } from "../../src/sync/config_sync.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const scratch = scratchDirs("tandem-sync-");
const port = 20000 + Math.floor(Math.random() * 20000);
const events: string[] = [];

function hacf(extra = "", nodes = "node node1 node2"): string {
  return [nodes, "keepalive 100ms", "deadtime 1", "initdead 10", `udpport ${port}`, "ucast lo 127.0.0.1", "auto_failback off", extra, ""].join("\n");
}

function writeDir(dir: string, ha: string, keys = "auth 1\n1 sha256 the-secret\n"): void {
  writeFileSync(join(dir, "ha.cf"), ha);
  writeFileSync(join(dir, "authkeys"), keys, { mode: 0o600 });
}

const peer = scratch();
writeDir(peer, hacf());
mkdirSync(join(peer, "resource.d"));
const server = await startSyncServer({ dir: peer, node: "node2", addresses: ["127.0.0.1"], port, log: (e, f) => void events.push(`${e} ${JSON.stringify(f)}`) });
afterAll(() => server.close());

async function push(dir: string, ...extra: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runConfig(["push", "--dir", dir, "--node", "node1", "--to", "127.0.0.1", ...extra], { stdout: (s) => void (out += s), stderr: (s) => void (err += s) }, async () => false);
  return { code, out, err };
}

describe("config push", () => {
  test("a change: unified diff (secret masked), then written on the peer; authkeys stays 0600", async () => {
    const local = scratch();
    writeDir(local, hacf("warntime 500ms"), "auth 1\n1 sha256 the-secret\n2 sha256 next-secret\n");
    mkdirSync(join(local, "resource.d"));
    writeFileSync(join(local, "resource.d/myscript"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const r = await push(local, "--yes");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("+warntime 500ms");
    expect(r.out).toContain("--- node2/ha.cf");
    expect(r.out).toMatch(/^\+2 sha256 \*{8}$/m);
    expect(r.out).not.toContain("next-secret");
    expect(r.out).toContain("wrote 3 files on node2: ha.cf, authkeys, resource.d/myscript");
    expect(readFileSync(join(peer, "ha.cf"), "utf8")).toBe(readFileSync(join(local, "ha.cf"), "utf8"));
    expect(readFileSync(join(peer, "authkeys"), "utf8")).toContain("next-secret");
    expect(statSync(join(peer, "authkeys")).mode & 0o777).toBe(0o600);
    expect(statSync(join(peer, "resource.d/myscript")).mode & 0o777).toBe(0o755);
    expect(events.some((e) => e.startsWith("config_sync ") && e.includes('"op":"put"'))).toBe(true);
    // the same again: nothing to do
    const again = await push(local, "--yes");
    expect(again.out).toContain("already has these files");
  });

  test("without --yes, a 'no' writes nothing", async () => {
    const local = scratch();
    writeDir(local, hacf("warntime 400ms"), "auth 1\n1 sha256 the-secret\n2 sha256 next-secret\n");
    const before = readFileSync(join(peer, "ha.cf"), "utf8");
    const r = await push(local);
    expect(r.code).toBe(1);
    expect(r.out).toContain("+warntime 400ms");
    expect(r.err).toContain("nothing written");
    expect(readFileSync(join(peer, "ha.cf"), "utf8")).toBe(before);
  });

  test("a changed node list is refused as a split", async () => {
    const local = scratch();
    writeDir(local, hacf("", "node node1 node2 node3"), "auth 1\n1 sha256 the-secret\n");
    const before = readFileSync(join(peer, "ha.cf"), "utf8");
    const r = await push(local, "--yes");
    expect(r.code).toBe(1);
    expect(r.err).toContain("node list changes");
    expect(readFileSync(join(peer, "ha.cf"), "utf8")).toBe(before);
  });

  test("pushRefusal: dropping the key the peer signs with, a udpport or wire change", () => {
    const files = (ha: string, keys: string) => new Map([["ha.cf", { data: Buffer.from(ha), mode: 0o644 }], ["authkeys", { data: Buffer.from(keys), mode: 0o600 }]]);
    const current = parseFiles(files(hacf(), "auth 1\n1 sha256 the-secret\n"), "node2");
    expect(current.problems).toEqual([]);
    const ok = parseFiles(files(hacf("warntime 300ms"), "auth 2\n1 sha256 the-secret\n2 sha256 new\n"), "node2");
    expect(pushRefusal(ok, current, "node2")).toEqual([]);
    const dropped = parseFiles(files(hacf(), "auth 2\n2 sha256 new\n"), "node2");
    expect(pushRefusal(dropped, current, "node2").join()).toContain("no longer holds key 1");
    const port_moved = parseFiles(files(hacf().replace(`udpport ${port}`, "udpport 695"), "auth 1\n1 sha256 the-secret\n"), "node2");
    expect(pushRefusal(port_moved, current, "node2").join()).toContain("udpport changes");
    const wire = parseFiles(files(hacf("# tandem: wire heartbeat"), "auth 1\n1 sha1 the-secret\n"), "node2");
    expect(pushRefusal(wire, current, "node2").join()).toContain("wire changes");
  });

  test("different secrets: authentication fails, nothing is read or written", async () => {
    const local = scratch();
    writeDir(local, hacf(), "auth 1\n1 sha256 another-secret\n");
    const r = await push(local, "--yes");
    expect(r.code).toBe(1);
    expect(r.err).toContain("authentication failed");
    expect(events.some((e) => e.startsWith("config_sync_refused") && e.includes("authentication failed"))).toBe(true);
  });

  test("crc authkeys: refused before connecting", async () => {
    const local = scratch();
    writeDir(local, hacf(), "auth 1\n1 crc\n");
    const r = await push(local, "--yes");
    expect(r.code).toBe(1);
    expect(r.err).toContain("crc");
  });

  test("files that fail `tandem check` are not pushed", async () => {
    const local = scratch();
    writeDir(local, hacf("deadtime 1"), "auth 1\n1 sha256 the-secret\n2 sha256 next-secret\n");
    writeFileSync(join(local, "haresources"), "node2 no-such-script-anywhere\n");
    const r = await push(local, "--yes");
    expect(r.code).toBe(1);
    expect(r.err).toContain("nothing pushed");
  });
});

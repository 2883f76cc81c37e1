// completions/tandem.bash in a real bash: COMPREPLY for subcommands,
// options, and node names read from ha.cf in --dir.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { scratchDirs } from "../helpers/scratch.ts";

const script = join(import.meta.dir, "../../completions/tandem.bash");
const scratch = scratchDirs("tandem-completion-");

/** Complete `line` (the cursor at its end) and return COMPREPLY, sorted. */
function complete(line: string): string[] {
  const words = line.split(" ");
  const quoted = words.map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(" ");
  const prog = [
    "set -u",
    `source '${script}'`,
    `COMP_WORDS=(${quoted})`,
    `COMP_CWORD=${words.length - 1}`,
    `COMP_LINE='${line}'`,
    `COMP_POINT=${line.length}`,
    "_tandem tandem",
    `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ].join("\n");
  const p = Bun.spawnSync(["bash", "--norc", "--noprofile", "-c", prog], { stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  expect(p.stderr.toString()).toBe("");
  expect(p.exitCode).toBe(0);
  return p.stdout.toString().split("\n").filter((s) => s !== "").sort();
}

describe("bash completion", () => {
  const dir = scratch();
  writeFileSync(join(dir, "ha.cf"), "keepalive 1\nnode alpha, beta # two nodes\n#node ghost\nnode gamma\nstonith_host * baytech 10.0.0.3 login secret\n\nucast eth1 192.0.2.2\n");

  test("subcommands", () => {
    expect(complete("tandem ")).toContain("status");
    expect(complete("tandem fe")).toEqual(["fence", "fence-confirm"]);
    expect(complete("tandem ex")).toEqual(["export"]);
    expect(complete("tandem export ")).toEqual(["pacemaker"]);
    expect(complete("tandem config ")).toEqual(["push"]);
  });
  test("options per command", () => {
    expect(complete("tandem status --")).toEqual(["--count", "--help", "--interval-ms", "--json", "--schema", "--socket", "--watch"]);
    expect(complete("tandem events --f")).toEqual(["--follow"]);
    expect(complete("tandem drbd")).toEqual(["drbd-fence-peer", "drbd-split-brain"]);
    expect(complete("tandem config push --")).toEqual(["--dir", "--help", "--node", "--to", "--yes"]);
    expect(complete("tandem fence node1 --action ")).toEqual(["off", "reboot"]);
    expect(complete("tandem standby ")).toEqual(["all", "foreign", "local", "none"]);
  });
  test("node names from ha.cf in --dir (comments and commas as Heartbeat reads them)", () => {
    expect(complete(`tandem fence --dir ${dir} `)).toEqual(["alpha", "beta", "gamma"]);
    expect(complete(`tandem check --dir ${dir} --node b`)).toEqual(["beta"]);
    expect(complete(`tandem fence --dir=${dir} g`)).toEqual(["gamma"]);
  });
  test("no ha.cf: no node names, no error", () => {
    expect(complete(`tandem fence --dir ${scratch()} `)).toEqual([]);
  });
  test("--dir completes directories", () => {
    expect(complete(`tandem check --dir ${dir.slice(0, -1)}`)).toContain(dir);
  });
});

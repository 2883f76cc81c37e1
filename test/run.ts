// Default test suite: unit, simulation and namespace integration tests.
// Passes bun's output through and ends with the summary line CI reads:
// `N passed, N failed`.
// test/vm is the slow suites' slice in the default run: the softdog VM tests
// (~75 s) and one appliance boot + failover (~80 s, plus ~2.5 min to build
// the image on a cold cache). `./run vm` runs the full VM set (~6-9 min).
// test/pacemaker: `tandem export pacemaker` applied to a live Corosync +
// Pacemaker pair in namespaces (~40 s, mostly pcs start-up).
const dirs = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["test/unit", "test/sim", "test/integration", "test/pacemaker", "test/vm"];
const proc = Bun.spawn([process.execPath, "test", "--timeout", "120000", ...dirs], {
  stdout: "pipe",
  stderr: "pipe",
  env: process.env,
});
let passed = 0;
let failed = 0;
async function pump(stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream): Promise<void> {
  const dec = new TextDecoder();
  let tail = "";
  for await (const chunk of stream) {
    sink.write(chunk);
    tail += dec.decode(chunk, { stream: true });
    const lines = tail.split("\n");
    tail = lines.pop() ?? "";
    for (const l of lines) {
      const m = /^\s*(\d+) (pass|fail)$/.exec(l);
      if (m) m[2] === "pass" ? (passed = Number(m[1])) : (failed = Number(m[1]));
    }
  }
}
await Promise.all([pump(proc.stdout, process.stdout), pump(proc.stderr, process.stderr)]);
const code = await proc.exited;
if (code !== 0 && failed === 0) failed = 1; // a crash or load error is a failure too
console.log(`${passed} passed, ${failed} failed`);
process.exit(code === 0 && failed === 0 ? 0 : 1);

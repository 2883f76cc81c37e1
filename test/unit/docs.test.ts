// The man pages and the README's directive table against the code: every
// directive the parser knows is documented (docs/gen.ts --check), every
// command main.ts dispatches is in tandem(8), and groff renders both pages
// without warnings.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { directivesPage, readme_path, readmeWithTable, undocumented } from "../../docs/gen.ts";
import { directives } from "../../src/config/hacf.ts";

const root = join(import.meta.dir, "../..");

describe("tandem-directives(5)", () => {
  test("every directive of the parser has docs, and no docs for unknown ones", () => {
    const { missing, extra } = undocumented();
    // A failure here: add the directive to src/config/directive_docs.ts, then `bun run docs/gen.ts`.
    expect({ missing, extra }).toEqual({ missing: [], extra: [] });
  });
  test("the checked-in page is what docs/gen.ts generates", () => {
    expect(readFileSync(join(root, "docs/tandem-directives.5"), "utf8")).toBe(directivesPage());
  });
  test("every directive name appears as a .B line in the page", () => {
    const page = directivesPage();
    for (const name of Object.keys(directives)) expect(page).toMatch(new RegExp(`^\\.B ${name.replace(/_/g, "_")}( |$)`, "m"));
  });
  test("README's table is what docs/gen.ts generates", () => {
    const readme = readFileSync(readme_path, "utf8");
    expect(readmeWithTable(readme)).toBe(readme);
    for (const name of Object.keys(directives)) expect(readme).toContain(`| \`${name}`);
  });
  test("docs/gen.ts --check agrees", () => {
    const p = Bun.spawnSync([process.execPath, "run", join(root, "docs/gen.ts"), "--check"], { stderr: "pipe" });
    expect(p.stderr.toString()).toBe("");
    expect(p.exitCode).toBe(0);
  });
});

describe("tandem(8)", () => {
  const page = readFileSync(join(root, "docs/tandem.8"), "utf8");
  test("every command main.ts dispatches is documented", () => {
    const main = readFileSync(join(root, "src/main.ts"), "utf8");
    const cmds = [...main.matchAll(/case "([a-z][a-z-]*)":/g)].map((m) => m[1]!).filter((c) => c !== "help");
    expect(cmds.length).toBeGreaterThan(8);
    for (const c of cmds) expect({ c, documented: page.includes(`.B ${c.replace(/-/g, "\\-")}`) }).toEqual({ c, documented: true });
  });
  test("the version in package.json is main.ts's", () => {
    const main = readFileSync(join(root, "src/main.ts"), "utf8");
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    expect(main).toContain(`tandem_version = "${pkg.version}"`);
  });
});

describe("groff renders both pages without warnings", () => {
  for (const page of ["docs/tandem.8", "docs/tandem-directives.5"]) {
    test(page, () => {
      const p = Bun.spawnSync(["groff", "-man", "-Tutf8", "-ww", "-z", join(root, page)], { stderr: "pipe" });
      expect(p.stderr.toString()).toBe("");
      expect(p.exitCode).toBe(0);
    });
  }
});

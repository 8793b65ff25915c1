// The package as a new user gets it: `npm pack`, then README.md's own install line in a fresh project,
// offline (npm resolves onnxruntime-node from a loopback registry made from package-lock.json and
// takes every tarball from the npm cache that `npm ci` filled: nothing is downloaded), then README's
// example run with Node and type-checked with `tsc --strict`, then README's test line: the package's
// own tests, run from the installed copy with the bundles passed in. Skipped outside the repository.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUNDLES, PACKAGE, REPO } from "./bundles.js";
import { PYTHON } from "./hostile.js";

const TSC = join(PACKAGE, "node_modules", "typescript", "bin", "tsc");
const PYTHON_TESTS = 11; // tests that need PYTHON: hostile.test.js's 3, heads' 1, decision's 6, explain's 1
const SKIP = (!REPO && "packs the repository's js/ folder") || (!existsSync(TSC) && "no typescript: npm ci in js/");

/** The fenced blocks of README.md that follow `marker` (an HTML comment), in order: {lang, code}. */
function blocksAfter(readme, marker) {
  const at = readme.indexOf(marker);
  assert.ok(at >= 0, `README.md has no ${marker}`);
  return [...readme.slice(at).matchAll(/```(\w+)\n([\s\S]*?)```/g)].map(([, lang, code]) => ({ lang, code }));
}

/** A registry on 127.0.0.1 that knows exactly the packages in package-lock.json; tarballs come from the npm cache. */
async function lockRegistry() {
  const lock = JSON.parse(await readFile(join(PACKAGE, "package-lock.json"), "utf8"));
  const docs = {};
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path) continue;
    const name = entry.name ?? path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
    const doc = (docs[name] ??= { name, "dist-tags": {}, versions: {} });
    const { version, integrity, dependencies, optionalDependencies, peerDependencies, peerDependenciesMeta, bin, engines, os, cpu } = entry;
    doc.versions[version] = { name, version, dependencies, optionalDependencies, peerDependencies, peerDependenciesMeta, bin, engines, os, cpu, dist: { integrity, tarball: `http://registry.invalid/${name}/-/${version}.tgz` } };
    if (!path.slice("node_modules/".length).includes("node_modules/")) doc["dist-tags"].latest = version;
  }
  const asked = [];
  const server = createServer((req, res) => {
    const name = decodeURIComponent(req.url.slice(1));
    asked.push(name);
    if (!docs[name]) return res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not in package-lock.json"}');
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(docs[name]));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}/`, asked, close: () => server.close() };
}

/** Run a shell line without blocking this process (the registry above answers from it): {status, stdout, out}. */
const run = (command, cwd, env) =>
  new Promise((resolve) => {
    const child = spawn("sh", ["-c", command], { cwd, env, timeout: 300_000 });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stdout, out: `$ ${command}\n${stdout}${stderr}` }));
  });

test("npm pack installs into a fresh project with README.md's lines, offline; its example runs and passes tsc --strict; its tests pass from the installed copy", { skip: SKIP, timeout: 600_000 }, async () => {
  const readme = await readFile(join(PACKAGE, "README.md"), "utf8");
  const [install, example, tests] = [blocksAfter(readme, "<!-- install -->")[0], blocksAfter(readme, "<!-- example -->")[0], blocksAfter(readme, "<!-- package tests -->")[0]];
  const work = await mkdtemp(join(tmpdir(), "edge-sentiment-pack-"));
  const registry = await lockRegistry();
  // the user's npm, cache and all, told only where the registry is and to stay offline for tarballs
  const env = { ...process.env, npm_config_registry: registry.url, npm_config_prefer_offline: "true", npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false", npm_config_loglevel: "error" };
  delete env.NODE_TEST_CONTEXT; // else the installed copy's test runner reports to this one, not to stdout
  try {
    const pack = await run(`npm pack --pack-destination ${work}`, PACKAGE, env);
    assert.equal(pack.status, 0, pack.out);
    const [tarball] = (await readdir(work)).filter((f) => f.endsWith(".tgz"));
    const project = join(work, "project");
    await mkdir(project);
    await writeFile(join(project, "package.json"), JSON.stringify({ name: "my-app", version: "1.0.0", private: true }));
    // README's install lines as written, but for where the tarball is
    for (const line of install.code.split("\n").filter((l) => l.trim() && !l.startsWith("#"))) {
      const r = await run(line.replace(/\S*edge-sentiment-[\d.]+\.tgz/, join(work, tarball)), project, env);
      assert.equal(r.status, 0, `${r.out}\n(every tarball must be in the npm cache: run npm ci --ignore-scripts in js/)`);
    }
    assert.ok(existsSync(join(project, "node_modules", "edge-sentiment", "src", "index.js")));
    // README's example, with a real bundle
    const code = example.code.replace("path/to/bundle", BUNDLES.default.replaceAll("\\", "/"));
    await writeFile(join(project, "example.mjs"), code);
    const node = await run("node example.mjs", project, env);
    assert.equal(node.status, 0, node.out);
    assert.match(node.stdout, /label: 'positive', score: 0\.9/);
    assert.match(node.stdout, /scores: \[ 0\.0\d+ \]/);
    await writeFile(join(project, "example.mts"), code);
    const tsc = await run(`node ${TSC} --strict --noEmit --module nodenext --target es2022 --skipLibCheck false example.mts`, project, env);
    assert.equal(tsc.status, 0, tsc.out);
    // README's line for the package's own tests, from the installed copy, bundles passed in
    for (const line of tests.code.split("\n").filter((l) => l.trim() && !l.startsWith("#"))) {
      const filled = line
        .replace("/path/to/default_bundle", BUNDLES.default)
        .replace("/path/to/tiny_bundle", BUNDLES.tiny)
        .replace("/path/to/python", PYTHON ?? "");
      const r = await run(filled, project, env);
      assert.equal(r.status, 0, r.out);
      if (!/npm test/.test(line)) continue;
      const count = (what) => Number(r.stdout.match(new RegExp(`^# ${what} (\\d+)$`, "m"))?.[1]);
      assert.equal(count("fail"), 0, r.out);
      // everything but the repository's own (browser, pack) tests, and the hostile ones when no PYTHON
      assert.equal(count("skipped"), PYTHON ? 5 : 5 + PYTHON_TESTS, r.out);
      assert.ok(count("pass") >= (PYTHON ? 26 : 15), r.out); // 26 in the repository today, with PYTHON
      console.log(`# from the installed copy: ${count("pass")} passed, ${count("skipped")} skipped (the repository's own)`);
    }
    // the same example against onnxruntime-web's types (installed by the test line above), as a browser app would be checked
    await writeFile(join(project, "example-web.mts"), code.replace('from "onnxruntime-node"', 'from "onnxruntime-web"'));
    const tscWeb = await run(`node ${TSC} --strict --noEmit --module nodenext --target es2022 --lib es2022,dom example-web.mts`, project, env);
    assert.equal(tscWeb.status, 0, tscWeb.out);
    assert.ok(!registry.asked.includes("edge-sentiment"), "the packed tarball was not what got installed");
  } finally {
    registry.close();
    await rm(work, { recursive: true, force: true });
  }
});

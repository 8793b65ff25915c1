// Shared by the hostile-bundle tests (Node and Chromium): copies of the tiny bundle with a given
// model.text.onnx and a manifest whose size and sha256 match it, and the hostile models themselves.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BUNDLES, REPO } from "./bundles.js";

const HERE = dirname(fileURLToPath(import.meta.url));
export const TINY = BUNDLES.tiny;
/** A Python with the onnx package: $PYTHON, else the repository's .venv. */
export const PYTHON = [process.env.PYTHON, REPO && join(REPO, ".venv", "bin", "python")].find((p) => p && existsSync(p));
export const NO_PYTHON = !PYTHON && "no Python with onnx: set PYTHON, or run make setup in the repository";

/** Run the project's Python with `args`; {status, stdout, stderr}. */
export const python = (args) => spawnSync(PYTHON, args, { encoding: "utf8", timeout: 60_000 });

/** The Python runtime's answer to one job of python_runtime.py ({job, ...}: see its docstring). */
export function pythonRuntime(job) {
  const run = spawnSync(PYTHON, [join(HERE, "python_runtime.py")], { input: JSON.stringify(job), encoding: "utf8", timeout: 120_000, maxBuffer: 1 << 28 });
  if (run.status !== 0) throw new Error(`python_runtime.py ${job.job} failed: ${(run.stderr || run.error?.message || "").slice(-3000)}`);
  return JSON.parse(run.stdout);
}

/** A copy of the tiny bundle at `dir` with `model` (bytes) as its model.text.onnx, listed with its size and sha256. */
export async function bundleWith(dir, model, edit = (manifest) => manifest) {
  await cp(TINY, dir, { recursive: true });
  const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"));
  if (model) {
    await writeFile(join(dir, "model.text.onnx"), model);
    const sha256 = createHash("sha256").update(model).digest("hex");
    manifest.files["model.text.onnx"] = { ...manifest.files["model.text.onnx"], bytes: model.length, sha256 };
  }
  await writeFile(join(dir, "manifest.json"), JSON.stringify(edit(manifest)));
  return dir;
}

/** The hostile variants of the tiny bundle's model.text.onnx (hostile_models.py), written to `dir`: {name: bytes}. */
export async function hostileModels(dir) {
  await mkdir(dir, { recursive: true });
  const made = python([join(HERE, "hostile_models.py"), join(TINY, "model.text.onnx"), dir]);
  if (made.status !== 0) throw new Error(`hostile_models.py failed: ${made.stderr}`);
  const names = made.stdout.split("\n").filter(Boolean);
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, `${n}.onnx`))])));
}

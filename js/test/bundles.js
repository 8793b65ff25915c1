// The bundles the tests run on, passed in: EDGE_SENTIMENT_BUNDLE (a bundle with model.text.onnx and
// 200 conformance vectors, e.g. the shipped default one) and EDGE_SENTIMENT_TINY_BUNDLE (the tiny test
// bundle). Unset, and only when this package is the js/ folder of the edge-sentiment repository, they
// are that repository's src/edge_sentiment/assets/default and tests/assets/tiny_bundle. The tests of an
// installed (packed) package have no repository: they are given both paths, or say so and fail.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repo = resolve(PACKAGE, "..");
/** The edge-sentiment repository holding this package, or null (an installed package). */
export const REPO = existsSync(join(repo, "pyproject.toml")) && existsSync(join(repo, "examples", "web", "index.html")) ? repo : null;

function bundle(variable, inRepo) {
  const path = process.env[variable] || (REPO && join(REPO, inRepo));
  if (!path || !existsSync(join(path, "manifest.json"))) {
    throw new Error(`${variable} must name a bundle folder (with manifest.json); got ${path ?? "nothing"}. Run the tests with ${variable}=/path/to/bundle`);
  }
  return resolve(path);
}

export const BUNDLES = {
  default: bundle("EDGE_SENTIMENT_BUNDLE", "src/edge_sentiment/assets/default"),
  tiny: bundle("EDGE_SENTIMENT_TINY_BUNDLE", "tests/assets/tiny_bundle"),
};

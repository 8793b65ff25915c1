// edge-sentiment for JavaScript: load a bundle (a folder in Node, or a URL), check it as the Python runtime
// does before any session exists (sha256 sums, size caps, plain files from one origin, and the model's ops
// and data: src/onnx.js), and score text through model.text.onnx on the onnxruntime module the caller
// passes in (onnxruntime-node, or onnxruntime-web in a browser). docs/bundle-format.md is the contract.
import { Decision, decisionProblems } from "./decision.js";
import { BundleError, InputError } from "./errors.js";
import { explain } from "./explain.js";
import { capText } from "./window.js";
import { MAX_BYTES, readOnnxInfo, textModelProblems } from "./onnx.js";

export { ALLOWED_OPS, MAX_BYTES, TEXT_OPS } from "./onnx.js";
export { CLIP, Decision, decisionProblems } from "./decision.js";
export { BundleError, InputError } from "./errors.js";
export { MAX_EXPLAIN_CHARS, WHITESPACE, without, wordSpans } from "./explain.js";
export { MAX_TEXT_CHARS, textWindow } from "./window.js";
export const FORMAT = "edge-sentiment/bundle";
export const FORMAT_VERSION = 1;
export const TEXT_MODEL_FILE = "model.text.onnx";
export const CONFORMANCE_FILE = "conformance.jsonl";
export const ATOL = 1e-5;
/** The most ids a tokenizer gives one text (the manifest's max_len at most), as runtime/tokenizer_base.py says. */
export const MAX_IDS_PER_TEXT = 100_000;


const isUrl = (source) =>
  source instanceof URL || /^[a-z][a-z0-9+.-]*:\/\//i.test(String(source)) || typeof process === "undefined";

const isFileUrl = (source) => /^file:/i.test(String(source)) && typeof process !== "undefined";

/**
 * Read one file of a bundle as bytes, at most `limit` of them: from a URL with fetch, or from a folder
 * (a path or a file: URL) with node:fs. `io` = { onProgress, signal, expected } (expected: the manifest's size).
 */
async function readFile(source, name, limit, io = {}) {
  let bytes;
  if (isFileUrl(source)) {
    const { fileURLToPath } = await import("node:url");
    bytes = await readLocal(fileURLToPath(String(source)), name, limit);
  } else {
    bytes = isUrl(source) ? await fetchFile(source, name, limit, io) : await readLocal(source, name, limit);
  }
  io.onProgress?.({ file: name, loaded: bytes.length, total: io.expected ?? bytes.length });
  return bytes;
}

/** A file fetched from the bundle's own origin: a redirect to another origin is refused, never read. */
async function fetchFile(source, name, limit, { onProgress, signal, expected } = {}) {
  const base = String(source).endsWith("/") ? String(source) : `${source}/`;
  const url = new URL(name, typeof location !== "undefined" ? new URL(base, location.href) : base);
  let response;
  try {
    response = await fetch(url, { redirect: "follow", credentials: "same-origin", signal });
  } catch (error) {
    throw new BundleError(`cannot fetch ${url}: ${signal?.aborted ? aborted(signal) : error.message}`);
  }
  const landed = response.url ? new URL(response.url).origin : url.origin;
  if (response.type === "opaque" || response.type === "opaqueredirect" || landed !== url.origin) {
    await response.body?.cancel();
    throw new BundleError(`${url} redirected to another origin (${landed}); a bundle is read from its own origin only, so serve it without the redirect`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new BundleError(`cannot fetch ${url}: HTTP ${response.status}`);
  }
  const tooBig = (size) => new BundleError(`${url} is ${size} bytes, more than the ${limit} allowed`);
  const declared = Number(response.headers.get("content-length") ?? 0);
  if (declared > limit) {
    await response.body?.cancel();
    throw tooBig(declared);
  }
  const reader = response.body.getReader();
  const chunks = [];
  let total = 0;
  const size = expected ?? (declared || 0);
  const next = async () => {
    try {
      return await reader.read();
    } catch (error) {
      throw new BundleError(`reading ${url} stopped after ${total} bytes: ${signal?.aborted ? aborted(signal) : error.message}`);
    }
  };
  for (let part = await next(); !part.done; part = await next()) {
    total += part.value.length;
    if (total > limit) {
      await reader.cancel();
      throw tooBig(`over ${total}`);
    }
    chunks.push(part.value);
    if (total < size) onProgress?.({ file: name, loaded: total, total: size });
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) bytes.set(chunk, (at += chunk.length) - chunk.length);
  return bytes;
}

const aborted = (signal) => (signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? "aborted"));

/** A plain file of a bundle folder: links and FIFOs, devices or sockets are refused before a byte is read. */
async function readLocal(source, name, limit) {
  const { open, constants } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const path = join(String(source), name);
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: a link is refused (ELOOP)
    handle = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    if (error.code === "ENOENT") throw new BundleError(`bundle file missing: ${path}; re-export the bundle`);
    throw new BundleError(`${path} is a link or not a regular file (${error.code || error.message}); bundles hold only plain files`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new BundleError(`${path} is not a regular file; bundles hold only plain files`);
    if (info.size > limit) throw new BundleError(`${path} is ${info.size} bytes, more than the ${limit} allowed`);
    const bytes = new Uint8Array(info.size);
    let total = 0;
    while (total < bytes.length) {
      const { bytesRead } = await handle.read(bytes, total, bytes.length - total, total);
      if (!bytesRead) break;
      total += bytesRead;
    }
    return bytes.subarray(0, total);
  } finally {
    await handle.close();
  }
}

async function sha256Hex(bytes) {
  const subtle = globalThis.crypto?.subtle;
  let digest;
  if (subtle) {
    digest = new Uint8Array(await subtle.digest("SHA-256", bytes));
  } else {
    const { createHash } = await import("node:crypto");
    digest = createHash("sha256").update(bytes).digest();
  }
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A bundle file's bytes, checked against the size cap, and the size and sha256 in the manifest. */
async function readChecked(source, manifest, name, io = {}) {
  const entry = manifest.files?.[name];
  if (!entry || typeof entry.sha256 !== "string") throw new BundleError(`the manifest lists no ${name}`);
  if (!Number.isSafeInteger(entry.bytes) || entry.bytes < 0) throw new BundleError(`the manifest's entry for ${name} has no valid size; re-export the bundle`);
  if (entry.bytes > MAX_BYTES[name]) throw new BundleError(`the manifest says ${name} is ${entry.bytes} bytes, more than the ${MAX_BYTES[name]} allowed`);
  const bytes = await readFile(source, name, MAX_BYTES[name], { ...io, expected: entry.bytes });
  if (bytes.length !== entry.bytes) {
    throw new BundleError(`${name} is ${bytes.length} bytes but the manifest says ${entry.bytes}: the bundle is truncated or was changed; re-export it`);
  }
  if ((await sha256Hex(bytes)) !== entry.sha256) {
    throw new BundleError(`${name} does not match its sha256 in the manifest: the bundle was changed; re-export it`);
  }
  return bytes;
}

function checkManifest(manifest, source) {
  if (!manifest || manifest.format !== FORMAT) throw new BundleError(`${source} has no edge-sentiment bundle manifest`);
  const version = manifest.format_version;
  if (!Number.isInteger(version) || version < 1) throw new BundleError(`${source}/manifest.json has no valid format_version`);
  if (version > FORMAT_VERSION) {
    throw new BundleError(`bundle format_version ${version} is newer than this package reads (${FORMAT_VERSION}); upgrade edge-sentiment`);
  }
  for (const key of ["files", "model"]) {
    if (!isObject(manifest[key])) throw new BundleError(`${source}/manifest.json has no '${key}' section`);
  }
  // the fields this package reads, checked as the Python runtime checks them (runtime/bundle.py)
  const classes = manifest.model.classes ?? 1;
  if (!Number.isSafeInteger(classes) || classes < 1) {
    throw new BundleError(`${source}/manifest.json has classes ${JSON.stringify(classes)}: 1 (one sigmoid output) or k (softmax over k)`);
  }
  const labels = manifest.labels ?? ["negative", "positive"];
  const k = Math.max(classes, 2);
  if (!Array.isArray(labels) || labels.length !== k || new Set(labels).size !== k || !labels.every((l) => typeof l === "string" && l)) {
    throw new BundleError(`${source}/manifest.json has labels ${JSON.stringify(labels)}: ${k} distinct names for ${classes} output(s)`);
  }
  const threshold = manifest.threshold ?? 0.5;
  if (typeof threshold !== "number" || !(threshold > 0 && threshold < 1)) {
    throw new BundleError(`${source}/manifest.json has threshold ${JSON.stringify(threshold)}; it must be a number between 0 and 1`);
  }
  const head = manifest.model.head ?? (classes === 1 ? "sigmoid" : "softmax");
  if (!["sigmoid", "softmax", "multi-label"].includes(head) || (head === "sigmoid") !== (classes === 1)) {
    throw new BundleError(`${source}/manifest.json has head ${JSON.stringify(head)} for ${classes} output(s): 'sigmoid' for one, 'softmax' or 'multi-label' for several`);
  }
  // the decision layer (runtime/decision.py): every problem named at once, as runtime/bundle.py names them
  const problems = [];
  const maxLen = manifest.model.max_len;
  if (!Number.isSafeInteger(maxLen) || maxLen < 1 || maxLen > MAX_IDS_PER_TEXT) {
    problems.push(`model max_len ${JSON.stringify(maxLen)} is not a whole number from 1 to ${MAX_IDS_PER_TEXT}`);
  }
  problems.push(...decisionProblems(manifest, head));
  if (problems.length) throw new BundleError(`${source}/manifest.json: ${problems.join("; ")}; re-export the bundle`);
  if (!manifest.files[TEXT_MODEL_FILE] || !manifest.text_model) {
    throw new BundleError(`bundle ${source} has no ${TEXT_MODEL_FILE}; export it with 'edge-sentiment export --text-model'`);
  }
}

const RAW = new Decision(); // temperature 1, bias 0: the model's own scores

const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);

/** What the host does before the graph: Unicode NFKC (the bundle's tokenizer normalises non-ASCII text so). */
export function prepare(text) {
  if (typeof text !== "string") throw new TypeError(`expected text (a string), got ${typeof text}`);
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(text) ? text : text.normalize("NFKC");
}

export class TextModel {
  constructor(ort, session, manifest, source, calibrated = true) {
    this.ort = ort;
    this.session = session;
    this.manifest = manifest;
    this.source = source;
    this.classes = manifest.model?.classes ?? 1;
    this.labels = manifest.labels ?? ["negative", "positive"];
    this.threshold = manifest.threshold ?? 0.5;
    this.head = manifest.model?.head ?? (this.classes === 1 ? "sigmoid" : "softmax");
    this.maxLen = manifest.model?.max_len;
    // the manifest's calibration, threshold and uncertain band; calibrated = false: the model's own scores
    this.decision = Decision.fromManifest(manifest, calibrated);
  }

  /** What the graph is given of each text: NFKC, and a long text cut to the end holding its last max_len words. */
  feed(texts) {
    return texts.map((text, k) => {
      if (typeof text !== "string") throw new TypeError(`text ${k} is ${typeof text}, not a string`);
      if (text.isWellFormed && !text.isWellFormed()) throw new InputError(`text ${k} holds a lone surrogate, which UTF-8 cannot carry to the graph`);
      return prepare(capText(text, k, this.maxLen, (message) => new InputError(message)));
    });
  }

  /** Calibrated scores (the manifest's calibration) and the ids the graph fed the model, for one batch of texts. */
  async run(texts) {
    return this.runModel(texts, this.decision);
  }

  /**
   * The model's own scores (no calibration: what conformance.jsonl holds) and the ids, for one batch of texts;
   * `decision` (run's) calibrates them.
   */
  async runModel(texts, decision = RAW) {
    if (!Array.isArray(texts)) throw new TypeError("run takes an array of texts");
    if (texts.length === 0) return { scores: [], ids: [] };
    const input = new this.ort.Tensor("string", this.feed(texts), [texts.length]);
    const out = await this.session.run({ text: input });
    const dims = out.probability.dims;
    if (dims.length !== 2 || dims[0] !== texts.length || dims[1] !== this.classes) {
      throw new BundleError(`${TEXT_MODEL_FILE} gave probabilities of shape [${dims}] for ${texts.length} texts, but the manifest says ${this.classes} class(es); re-export the bundle`);
    }
    const p = out.probability.data;
    const tokens = out.tokens.data;
    const width = out.tokens.dims[1];
    const scores = [];
    const ids = [];
    for (let row = 0; row < texts.length; row++) {
      scores.push(
        this.classes === 1
          ? decision.calibrateOne(p[row])
          : decision.calibrateRow(Array.from(p.subarray(row * this.classes, (row + 1) * this.classes))),
      );
      const found = [];
      for (let k = row * width; k < (row + 1) * width; k++) if (tokens[k] !== 0) found.push(Number(tokens[k]));
      ids.push(found);
    }
    return { scores, ids };
  }

  /** The probability of labels[1] for each text (one sigmoid output), or each class's (k outputs). */
  async predictProba(texts, batchSize = 32) {
    const list = typeof texts === "string" ? [texts] : Array.from(texts);
    const scores = [];
    for (let i = 0; i < list.length; i += batchSize) scores.push(...(await this.run(list.slice(i, i + batchSize))).scores);
    return scores;
  }

  /**
   * A label and score for each text, labelled as the manifest says: labels[1] at or over the threshold (two labels),
   * the "uncertain" band's label between its low and high; a multi-label bundle's also lists every label at or over the threshold.
   */
  async predict(texts) {
    return this.decision.predictions(await this.predictProba(texts), this.labels);
  }

  /**
   * Each word's effect on the score, by leaving it out (src/explain.js, the Python runtime's algorithm): the original
   * and every variant scored as one batch. `options`: { top = 5 (words listed each way), maxWords = max_len (words examined) }.
   */
  async explain(text, options = {}) {
    return explain(this, text, options);
  }

  async release() {
    await this.session.release?.();
  }
}

/**
 * Load a bundle: a folder path or file: URL (Node), or an http(s) URL. `ort` is the onnxruntime module to run it on
 * (`import * as ort from "onnxruntime-node"` or `"onnxruntime-web"`). The manifest's format is
 * checked, and model.text.onnx's sha256, size, ops, inputs and outputs verified (the Python runtime's
 * checks: no external data, no functions, only the ops an exported model has) before a session is created.
 */
export async function loadBundle(source, { ort, sessionOptions, onProgress, signal, calibrated = true } = {}) {
  if (!ort?.InferenceSession) throw new TypeError("loadBundle needs { ort }: the onnxruntime-node or onnxruntime-web module");
  if (typeof calibrated !== "boolean") throw new TypeError(`loadBundle's calibrated option is true or false, not ${JSON.stringify(calibrated)}`);
  let manifest;
  try {
    const raw = await readFile(source, "manifest.json", MAX_BYTES["manifest.json"], { onProgress, signal });
    manifest = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch (error) {
    if (error instanceof BundleError) throw error;
    throw new BundleError(`${source}/manifest.json is not valid JSON (${error.message}); re-export the bundle`);
  }
  checkManifest(manifest, source);
  const bytes = await readChecked(source, manifest, TEXT_MODEL_FILE, { onProgress, signal });
  const problems = textModelProblems(readOnnxInfo(bytes));
  if (problems.length) throw new BundleError(`${TEXT_MODEL_FILE} is not a text model this runtime will run: ${problems.join("; ")}`);
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions ?? {});
  } catch (error) {
    throw new BundleError(`onnxruntime could not load ${String(source).replace(/\/$/, "")}/${TEXT_MODEL_FILE}: ${error.message}`);
  }
  return new TextModel(ort, session, manifest, source, calibrated);
}

/** The bundle's conformance vectors ({text, ids, score}), checked against the manifest's sha256. */
export async function loadConformance(source, manifest, { signal } = {}) {
  const bytes = await readChecked(source, manifest, CONFORMANCE_FILE, { signal });
  return new TextDecoder("utf-8")
    .decode(bytes)
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line));
}

/**
 * Run a model on conformance vectors: how many texts have identical ids, the largest |Δp|, the first failure. The
 * vectors hold the model's own scores, so a TextModel is compared without its bundle's calibration (runModel).
 */
export async function checkConformance(model, vectors, batchSize = 1) {
  let identical = 0;
  let maxAbsDiff = 0;
  let firstFailure = null;
  for (let i = 0; i < vectors.length; i += batchSize) {
    const part = vectors.slice(i, i + batchSize);
    const texts = part.map((v) => v.text);
    const { scores, ids } = await (model.runModel ? model.runModel(texts) : model.run(texts));
    part.forEach((v, k) => {
      const want = [].concat(v.score);
      const got = [].concat(scores[k]);
      const diff = want.length === got.length ? Math.max(...want.map((w, j) => Math.abs(w - got[j]))) : Infinity;
      maxAbsDiff = Math.max(maxAbsDiff, diff);
      const same = ids[k].length === v.ids.length && ids[k].every((x, j) => x === v.ids[j]);
      if (same) identical++;
      if ((!same || diff > ATOL) && firstFailure === null) {
        firstFailure = { index: i + k, text: v.text.slice(0, 60), ids: ids[k].slice(0, 20), expected: v.ids.slice(0, 20), score: scores[k], expectedScore: v.score };
      }
    });
  }
  return { texts: vectors.length, identical, maxAbsDiff, firstFailure, passed: identical === vectors.length && maxAbsDiff <= ATOL };
}

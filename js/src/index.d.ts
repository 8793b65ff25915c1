// Types of edge-sentiment's JavaScript package (src/index.js).

/**
 * The onnxruntime module to run on: `import * as ort from "onnxruntime-node"` or `"onnxruntime-web"`.
 * Typed loosely on purpose (method syntax, `unknown` tensor data) so that both packages' own, wider
 * types are accepted under `tsc --strict`: this package checks what a session returns at run time.
 */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: object): Promise<OrtSession> };
  Tensor: new (type: "string", data: string[], dims: readonly number[]) => unknown;
}

/** A tensor as a session returns it; the package checks its dims and reads its data at run time. */
export interface OrtTensorLike {
  readonly data: unknown;
  readonly dims: readonly number[];
}

export interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensorLike>>;
  release?(): Promise<void>;
}

/** Bytes read so far of one bundle file (`total` from the manifest), for a progress bar. */
export interface LoadProgress {
  file: string;
  loaded: number;
  total: number;
}

export interface LoadOptions {
  ort: OrtModule;
  sessionOptions?: object;
  /** Called as each file's bytes arrive (URLs) or once it is read (folders). */
  onProgress?: (progress: LoadProgress) => void;
  /** Aborts the fetches: loadBundle then rejects with a BundleError naming the file. */
  signal?: AbortSignal;
}

export const FORMAT: "edge-sentiment/bundle";
export const FORMAT_VERSION: number;
export const TEXT_MODEL_FILE: "model.text.onnx";
export const CONFORMANCE_FILE: "conformance.jsonl";
export const ATOL: number;
/** The ops a bundle's models may hold (the Python runtime's allow-list); anything else is refused at load. */
export const ALLOWED_OPS: ReadonlySet<string>;
/** The ops a model.text.onnx adds in front of model.onnx's. */
export const TEXT_OPS: ReadonlySet<string>;
/** The largest manifest.json, model.text.onnx and conformance.jsonl the loader reads, in bytes. */
export const MAX_BYTES: Readonly<Record<"manifest.json" | "model.text.onnx" | "conformance.jsonl", number>>;

export class BundleError extends Error {}

/** The bundle's manifest.json (docs/bundle-format.md); only the fields this package reads are typed. */
export interface Manifest {
  format: "edge-sentiment/bundle";
  format_version: number;
  labels?: string[];
  threshold?: number;
  files: Record<string, { sha256: string; bytes: number }>;
  model: { classes?: number; max_len: number; [key: string]: unknown };
  text_model?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface Prediction {
  label: string;
  score: number;
  probabilities?: number[];
  /** A multi-label bundle's (manifest model.head "multi-label"): every label at or over the threshold. */
  labels?: string[];
}

export interface RunResult {
  /** One probability per text (one sigmoid output), or one array of k per text. */
  scores: Array<number | number[]>;
  /** The ids the graph fed the model, per text (pads dropped). */
  ids: number[][];
}

/** Unicode NFKC, the one step the host does before the graph. */
export function prepare(text: string): string;

export class TextModel {
  readonly manifest: Manifest;
  readonly classes: number;
  readonly labels: string[];
  readonly threshold: number;
  run(texts: string[]): Promise<RunResult>;
  predictProba(texts: string | Iterable<string>, batchSize?: number): Promise<Array<number | number[]>>;
  predict(texts: string | Iterable<string>): Promise<Prediction[]>;
  release(): Promise<void>;
}

/**
 * Load a bundle: a folder path or a `file:` URL (Node), or an http(s) URL; verify its manifest and model.text.onnx as the Python runtime does
 * (sha256, size caps, plain files, one origin, allowed ops only, no external data or functions), then
 * open a session. BundleError, before any session, for whatever fails.
 */
export function loadBundle(source: string | URL, options: LoadOptions): Promise<TextModel>;

export interface Vector {
  text: string;
  ids: number[];
  score: number | number[];
}

export function loadConformance(source: string | URL, manifest: Manifest, options?: { signal?: AbortSignal }): Promise<Vector[]>;

export interface ConformanceResult {
  texts: number;
  identical: number;
  maxAbsDiff: number;
  firstFailure: null | { index: number; text: string; ids: number[]; expected: number[]; score: unknown; expectedScore: unknown };
  passed: boolean;
}

export function checkConformance(model: TextModel, vectors: Vector[], batchSize?: number): Promise<ConformanceResult>;

// What the loader must check in an ONNX file before onnxruntime sees it: a minimal reader of the protobuf
// wire format, limited to the fields of onnx.proto it needs. The JavaScript twin of the Python runtime's
// runtime/onnxinfo.py and its checks (runtime/bundle.py, runtime/textmodel.py); test/hostile.test.js
// compares the lists and limits below with the Python ones so the two loaders cannot drift apart.

/** Ops an exported sentiment LSTM may hold (bundle.py ALLOWED_OPS); anything else (Loop, Scan, If, custom domains) is refused. */
export const ALLOWED_OPS = new Set(
  ("Add Cast Concat Constant Div Equal Expand Gather Greater Identity Less LSTM GRU MatMul Max Min Mul Not " +
    "ReduceMean Relu Softmax Split Gemm Neg Exp Sqrt Reciprocal Pow Erf " +
    "ReduceMax ReduceSum Reshape Shape Sigmoid Slice Squeeze Sub Tanh Transpose Unsqueeze Where DynamicQuantizeLinear " +
    "MatMulInteger DequantizeLinear QuantizeLinear com.microsoft.DynamicQuantizeLSTM " +
    "com.microsoft.DynamicQuantizeMatMul com.microsoft.MatMulIntegerToFloat " +
    "Conv MaxPool AveragePool GlobalMaxPool GlobalAveragePool Flatten").split(" "),
);
/** The ops the text graph adds in front of model.onnx's (textmodel.py TEXT_OPS). */
export const TEXT_OPS = new Set(
  "StringNormalizer com.microsoft.Tokenizer ai.onnx.ml.LabelEncoder ConstantOfShape Range TopK GatherElements Identity Expand Greater Where".split(" "),
);
/** Largest files the loader reads (bundle.py _MAX_MANIFEST_BYTES, textmodel.py and conformance.py _MAX_BYTES). */
export const MAX_BYTES = { "manifest.json": 4 * 1024 * 1024, "model.text.onnx": 512 * 1024 * 1024, "conformance.jsonl": 64 * 1024 * 1024 };

const ELEM_TYPES = { 1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "float64" };
const MAX_DEPTH = 8;
const utf8 = new TextDecoder("utf-8", { fatal: true });

class OnnxFormatError extends Error {}

/** (field number, wire type, value) of one protobuf message: varints as numbers, LEN values as subarrays. */
function* fields(buf) {
  let pos = 0;
  const varint = () => {
    let result = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (pos >= buf.length) throw new OnnxFormatError("truncated varint");
      const b = buf[pos++];
      result += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return result;
    }
    throw new OnnxFormatError("varint too long");
  };
  while (pos < buf.length) {
    const key = varint();
    const number = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) {
      yield [number, wire, varint()];
    } else if (wire === 2) {
      const length = varint();
      if (pos + length > buf.length) throw new OnnxFormatError("field runs past the end");
      yield [number, wire, buf.subarray(pos, pos + length)];
      pos += length;
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
      if (pos > buf.length) throw new OnnxFormatError("truncated");
      yield [number, wire, null];
    } else {
      throw new OnnxFormatError(`wire type ${wire}`);
    }
  }
}

function text(buf) {
  try {
    return utf8.decode(buf);
  } catch {
    throw new OnnxFormatError("a name is not UTF-8");
  }
}

/** A graph input or output: its name and element type. */
function valueInfo(buf) {
  let name = "";
  let dtype = "unknown";
  for (const [num, wire, val] of fields(buf)) {
    if (num === 1 && wire === 2) name = text(val);
    else if (num === 2 && wire === 2) {
      for (const [tn, tw, tv] of fields(val)) {
        if (tn !== 1 || tw !== 2) continue; // tensor_type only: sequences and maps stay "unknown"
        for (const [n, w, v] of fields(tv)) if (n === 1 && w === 0) dtype = ELEM_TYPES[v] ?? `type${v}`;
      }
    }
  }
  return { name, dtype };
}

/** A TensorProto's name and whether its data lives outside the file. */
function tensor(buf) {
  let name = "";
  let external = false;
  for (const [num, wire, val] of fields(buf)) {
    if (num === 8 && wire === 2) name = text(val);
    else if (num === 13 && wire === 2) external = true; // external_data entries
    else if (num === 14 && wire === 0 && val === 1) external = true; // data_location EXTERNAL
  }
  return { name, external };
}

function graph(buf, info, depth, top) {
  if (depth > MAX_DEPTH) throw new OnnxFormatError("subgraphs nest too deeply");
  for (const [num, wire, val] of fields(buf)) {
    if (wire !== 2) continue;
    if (num === 1) node(val, info, depth);
    else if (num === 5) {
      const t = tensor(val);
      if (t.external) info.externalData.push(t.name);
    } else if (num === 15) info.externalData.push("<sparse initializer>");
    else if (top && num === 11) info.inputs.push(valueInfo(val));
    else if (top && num === 12) info.outputs.push(valueInfo(val));
  }
}

function node(buf, info, depth) {
  let op = "";
  let domain = "";
  for (const [num, wire, val] of fields(buf)) {
    if (wire !== 2) continue;
    if (num === 4) op = text(val);
    else if (num === 7) domain = text(val);
    else if (num === 5) {
      // attributes: subgraphs (g = 6, graphs = 11), tensors (t = 5, tensors = 10), sparse tensors (22, 23)
      for (const [an, aw, av] of fields(val)) {
        if (aw !== 2) continue;
        if (an === 6 || an === 11) graph(av, info, depth + 1, false);
        else if (an === 5 || an === 10) {
          const t = tensor(av);
          if (t.external) info.externalData.push(t.name || `<attribute of ${op || "a node"}>`);
        } else if (an === 22 || an === 23) info.externalData.push("<sparse tensor attribute>");
      }
    }
  }
  const key = domain === "" || domain === "ai.onnx" ? op : `${domain}.${op}`;
  info.ops.set(key, (info.ops.get(key) ?? 0) + 1);
}

/**
 * The parts of an ONNX ModelProto the loader checks: IR version, inputs and outputs, the op census
 * (subgraphs included), tensors stored outside the file, and the model-local functions.
 */
export function readOnnxInfo(bytes) {
  const info = { irVersion: 0, inputs: [], outputs: [], ops: new Map(), externalData: [], functions: [] };
  let hasGraph = false;
  try {
    for (const [num, wire, val] of fields(bytes)) {
      if (num === 1 && wire === 0) info.irVersion = val;
      else if (num === 7 && wire === 2) {
        hasGraph = true;
        graph(val, info, 0, true);
      } else if (num === 25 && wire === 2) {
        // a FunctionProto: its name (1) and domain (10); its body is never run, so never read
        let name = "";
        let domain = "";
        for (const [n, w, v] of fields(val)) {
          if (n === 1 && w === 2) name = text(v);
          else if (n === 10 && w === 2) domain = text(v);
        }
        info.functions.push(domain ? `${domain}.${name}` : name);
      }
    }
  } catch (error) {
    if (error instanceof OnnxFormatError) return { ...info, invalid: error.message };
    throw error;
  }
  if (!hasGraph || info.irVersion === 0) return { ...info, invalid: "no graph or IR version" };
  return info;
}

/** Why a model.text.onnx must not be run (textmodel.py check_text_model), or [] when it may be. */
export function textModelProblems(info) {
  if (info.invalid) return [`is not a valid ONNX file (${info.invalid})`];
  const problems = [];
  if (info.externalData.length) problems.push(`stores tensors outside the file (${info.externalData.slice(0, 3).join(", ")})`);
  if (info.functions.length) problems.push(`defines ONNX functions (${info.functions.slice(0, 3).join(", ")})`);
  const bad = [...info.ops.keys()].filter((op) => !ALLOWED_OPS.has(op) && !TEXT_OPS.has(op)).sort();
  if (bad.length) problems.push(`holds ops a text model never has: ${bad.join(", ")}`);
  const pairs = (list) => JSON.stringify(list.map((v) => [v.name, v.dtype]));
  if (pairs(info.inputs) !== pairs([{ name: "text", dtype: "string" }])) {
    problems.push(`must take one string input 'text', takes ${pairs(info.inputs)}`);
  }
  const want = [
    { name: "probability", dtype: "float32" },
    { name: "tokens", dtype: "int32" },
  ];
  if (pairs(info.outputs) !== pairs(want)) problems.push(`must give 'probability' float32 and 'tokens' int32, gives ${pairs(info.outputs)}`);
  return problems;
}

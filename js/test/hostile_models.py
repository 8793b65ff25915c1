"""Hostile variants of a bundle's model.text.onnx, made with the onnx package the way an attacker would.

    python hostile_models.py SOURCE.onnx OUT_DIR     writes OUT_DIR/<variant>.onnx, prints the variants' names

Each variant is a valid ONNX file that onnxruntime may run; the loaders must refuse every one
(js/test/hostile.test.js gives them a manifest with matching sha256 sums).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import onnx
from onnx import TensorProto, external_data_helper, helper


def external_initializer(model: onnx.ModelProto) -> None:
    """A weight matrix read from a file beside the process (whose bytes then leak through the scores)."""
    table = next(t for t in model.graph.initializer if t.data_type == TensorProto.FLOAT and len(t.dims) == 2)
    external_data_helper.set_external_data(table, location="secret.bin")
    table.ClearField("raw_data")
    table.ClearField("float_data")
    table.data_location = TensorProto.EXTERNAL


def external_attribute(model: onnx.ModelProto) -> None:
    """A Constant node whose tensor is read from an absolute path."""
    leak = helper.make_tensor("leak", TensorProto.FLOAT, [4], bytes(16), raw=True)
    external_data_helper.set_external_data(leak, location="/etc/hostname")
    leak.ClearField("raw_data")
    leak.data_location = TensorProto.EXTERNAL
    model.graph.node.append(helper.make_node("Constant", [], ["leak_out"], value=leak))


def custom_domain(model: onnx.ModelProto) -> None:
    model.graph.node.append(helper.make_node("Exfiltrate", ["text"], ["stolen"], domain="com.evil"))
    model.opset_import.append(helper.make_opsetid("com.evil", 1))


def loop(model: onnx.ModelProto) -> None:
    """A Loop with no trip count and a condition that stays true: it runs until the host is killed."""
    value = helper.make_tensor_value_info
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["v_in"], ["v_out"])],
        "body",
        [value("i", TensorProto.INT64, []), value("cond_in", TensorProto.BOOL, []), value("v_in", TensorProto.FLOAT, [])],
        [value("cond_out", TensorProto.BOOL, []), value("v_out", TensorProto.FLOAT, [])],
    )
    start = helper.make_tensor("v0", TensorProto.FLOAT, [], [0.0])
    model.graph.node.append(helper.make_node("Constant", [], ["v0"], value=start))
    model.graph.node.append(helper.make_node("Loop", ["", "", "v0"], ["v_final"], body=body))


def nested_custom_op(model: onnx.ModelProto) -> None:
    """A custom-domain op hidden in an If's branch: the census must read subgraphs."""
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    branch = helper.make_graph([helper.make_node("Exfiltrate", ["text"], ["y"], domain="com.evil")], "branch", [], [out])
    model.graph.node.append(helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch))


def function(model: onnx.ModelProto) -> None:
    """A model-local function, called from the graph."""
    body = [helper.make_node("Identity", ["x"], ["y"])]
    model.functions.append(helper.make_function("local.fns", "Helper", ["x"], ["y"], body, [helper.make_opsetid("", 17)]))
    model.opset_import.append(helper.make_opsetid("local.fns", 1))
    model.graph.node.append(helper.make_node("Helper", ["text"], ["h"], domain="local.fns"))


def function_named_like_an_allowed_op(model: onnx.ModelProto) -> None:
    """A model-local function in the default domain, named like an op of the allow-list."""
    body = [helper.make_node("Identity", ["x"], ["y"])]
    model.functions.append(helper.make_function("", "Sigmoid", ["x"], ["y"], body, [helper.make_opsetid("", 17)]))


def int_input(model: onnx.ModelProto) -> None:
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.INT32


VARIANTS = [
    external_initializer,
    external_attribute,
    custom_domain,
    loop,
    nested_custom_op,
    function,
    function_named_like_an_allowed_op,
    int_input,
]


def main() -> None:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    base = onnx.load(source)
    for make in VARIANTS:
        model = copy.deepcopy(base)
        make(model)
        (out / f"{make.__name__}.onnx").write_bytes(model.SerializeToString())
        print(make.__name__)


if __name__ == "__main__":
    main()

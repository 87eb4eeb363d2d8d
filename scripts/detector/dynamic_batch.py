"""Makes a YOLO ONNX export with batch fixed at 1 take any batch size.

Ultralytics exports with a static batch bake the batch into the graph twice: the input and
output shapes say 1, and the attention blocks' Reshape nodes carry constant target shapes whose
leading dimension is the batch (1) or, in area attention, batch x areas. This rewrites both: the input and output batch become a symbolic
dimension, and each Reshape constant whose first entry is the batch gets -1 there (or 0, "copy
from the input", where the shape already holds a -1, since only one -1 is allowed). The result is
checked with ONNX Runtime against the static model at batch 1 and 3.

Usage: python dynamic_batch.py STATIC.onnx OUT.onnx
"""

import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

TOLERANCE = 1e-3


def make_dynamic(model: onnx.ModelProto) -> int:
    graph = model.graph
    for value in list(graph.input) + list(graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = "batch"
    # Recorded intermediate shapes say batch 1, and ONNX Runtime's optimiser trusts them when it
    # fuses nodes: drop them so that shapes are inferred from the dynamic input.
    del graph.value_info[:]
    initializers = {t.name: t for t in graph.initializer}
    constants = {
        n.output[0]: n for n in graph.node if n.op_type == "Constant" and n.attribute
    }
    rewritten = 0
    for node in graph.node:
        if node.op_type != "Reshape":
            continue
        name = node.input[1]
        if name in initializers:
            tensor = initializers[name]
            shape = numpy_helper.to_array(tensor).copy()
        elif name in constants:
            attr = next(a for a in constants[name].attribute if a.name == "value")
            tensor = attr.t
            shape = numpy_helper.to_array(tensor).copy()
        else:
            continue  # computed at run time from the input's shape: already dynamic
        # The leading entry is the batch, or batch x areas in area attention (4 at batch 1).
        if shape.ndim != 1 or shape.size < 2 or shape[0] <= 0:
            continue
        shape[0] = 0 if (shape == -1).any() else -1
        tensor.CopyFrom(numpy_helper.from_array(shape.astype(np.int64), tensor.name))
        rewritten += 1
    return rewritten


def run(path: str, batch: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: batch})[0]


def main() -> None:
    static_path, out_path = sys.argv[1], sys.argv[2]
    model = onnx.load(static_path)
    rewritten = make_dynamic(model)
    if rewritten == 0:
        sys.exit(f"{static_path}: no batch-1 Reshape constant found; is the batch already dynamic?")
    onnx.checker.check_model(model)
    tmp = out_path + ".part"
    onnx.save(model, tmp)

    rng = np.random.default_rng(0)
    size = model.graph.input[0].type.tensor_type.shape.dim[2].dim_value
    images = rng.random((3, 3, size, size), dtype=np.float32)
    single = np.concatenate([run(static_path, images[i : i + 1]) for i in range(3)])
    for n in (1, 3):
        got = run(tmp, images[:n])
        diff = float(np.abs(got - single[:n]).max())
        if diff > TOLERANCE:
            sys.exit(f"batch {n}: outputs differ from the static model by {diff} (> {TOLERANCE})")
        print(f"batch {n}: max difference to the static model {diff:.2e}")
    import os

    os.replace(tmp, out_path)
    print(f"{out_path}: batch dynamic ({rewritten} Reshape constants rewritten)")


if __name__ == "__main__":
    main()

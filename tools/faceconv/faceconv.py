#!/usr/bin/python3
"""faceconv prepares the face models cz runs through ONNX Runtime.

  faceconv.py dlib-resnet MANIFEST.json OUT.onnx
      Converts face-api.js's port of dlib's 128-d ResNet face recogniser
      (TFJS weights manifest + .bin shards, uint8-quantised) to ONNX. The
      graph follows face-api.js 0.22.2 FaceRecognitionNet.forwardInput,
      minus the input normalisation, which the model descriptor carries:
      input  "input"  float32 [N,3,150,150], (RGB - mean) / 256
      output "embedding" float32 [N,128]
      Batch-norm-like scale layers are folded into the convolutions.

  faceconv.py blazeface IN.onnx OUT.onnx
      Makes MediaPipe BlazeFace (keijiro's Barracuda export) accept any batch
      size: the batch-1 reshapes become -1 and the zero-channel padding done
      with ConstantOfShape+Concat becomes a Pad.

  faceconv.py batch IN.onnx OUT.onnx
      Only renames the input's and outputs' first dimension to "N" (for
      graphs whose internal shapes are already dynamic).

Needs only python3-onnx and python3-numpy (Debian).
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float32": np.float32, "int32": np.int32}


def load_tfjs(manifest_path):
    """Returns {name: float32 array} de-quantised the way tfjs does it."""
    with open(manifest_path) as f:
        groups = json.load(f)
    base = os.path.dirname(manifest_path)
    weights = {}
    for g in groups:
        data = b"".join(open(os.path.join(base, p), "rb").read() for p in g["paths"])
        off = 0
        for w in g["weights"]:
            shape = w["shape"]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q:
                dt = DTYPES[q["dtype"]]
                size = n * np.dtype(dt).itemsize
                raw = np.frombuffer(data, dtype=dt, count=n, offset=off)
                # tfjs: Float32Array(v * scale + min), computed in doubles.
                arr = (raw.astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
            else:
                dt = DTYPES[w["dtype"]]
                size = n * np.dtype(dt).itemsize
                arr = np.frombuffer(data, dtype=dt, count=n, offset=off).astype(np.float32)
            off += size
            weights[w["name"]] = arr.reshape(shape)
        if off != len(data):
            sys.exit("faceconv: %s: %d bytes of weights, manifest describes %d" % (manifest_path, len(data), off))
    return weights


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, prefix):
        self.n += 1
        return "%s_%d" % (prefix, self.n)

    def const(self, prefix, arr):
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def op(self, op_type, inputs, prefix=None, **attrs):
        out = self.name(prefix or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def dlib_resnet(manifest, out_path):
    w = load_tfjs(manifest)
    g = Graph()
    shape = [150, 150, 32]  # tracked spatial size (H, W) and channels

    def conv(x, prefix, stride, relu, hw):
        filt = w[prefix + "/conv/filters"]  # [kh, kw, in, out]
        b = w[prefix + "/conv/bias"].astype(np.float64)
        s = w[prefix + "/scale/weights"].astype(np.float64)
        t = w[prefix + "/scale/biases"].astype(np.float64)
        kh, kw, cin, cout = filt.shape
        W = (filt.astype(np.float64) * s).astype(np.float32).transpose(3, 2, 0, 1)
        B = (b * s + t).astype(np.float32)
        if stride == 1:  # TF 'same' with odd kernels, stride 1
            pads = [kh // 2, kw // 2, kh // 2, kw // 2]
            out_hw = hw
        else:  # TF 'valid'
            pads = [0, 0, 0, 0]
            out_hw = [(hw[0] - kh) // stride + 1, (hw[1] - kw) // stride + 1]
        y = g.op("Conv", [x, g.const(prefix + "/W", W), g.const(prefix + "/B", B)], prefix + "/conv",
                 kernel_shape=[kh, kw], strides=[stride, stride], pads=pads)
        if relu:
            y = g.op("Relu", [y])
        return y, out_hw, cout

    def residual(x, prefix, hw, c):
        y, hw1, c1 = conv(x, prefix + "/conv1", 1, True, hw)
        y, hw1, c1 = conv(y, prefix + "/conv2", 1, False, hw1)
        return g.op("Relu", [g.op("Add", [y, x])]), hw, c

    def residual_down(x, prefix, hw, c):
        y, hw1, c1 = conv(x, prefix + "/conv1", 2, True, hw)
        y, hw1, c1 = conv(y, prefix + "/conv2", 1, False, hw1)
        pooled = g.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
        phw = [hw[0] // 2, hw[1] // 2]
        if phw != hw1:  # face-api.js appends a zero row and column to out
            dh, dw = phw[0] - hw1[0], phw[1] - hw1[1]
            y = g.op("Pad", [y, g.const("pads", np.array([0, 0, 0, 0, 0, 0, dh, dw], np.int64))])
            hw1 = phw
        if c != c1:  # and zero channels to the pooled input
            pooled = g.op("Pad", [pooled, g.const("pads", np.array([0, 0, 0, 0, 0, c1 - c, 0, 0], np.int64))])
        return g.op("Relu", [g.op("Add", [pooled, y])]), hw1, c1

    x, hw, c = conv("input", "conv32_down", 2, True, [150, 150])
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    hw = [(hw[0] - 3) // 2 + 1, (hw[1] - 3) // 2 + 1]
    for name in ["conv32_1", "conv32_2", "conv32_3", "conv64_down", "conv64_1", "conv64_2", "conv64_3",
                 "conv128_down", "conv128_1", "conv128_2", "conv256_down", "conv256_1", "conv256_2",
                 "conv256_down_out"]:
        f = residual_down if name.endswith("down") or name.endswith("down_out") else residual
        x, hw, c = f(x, name, hw, c)
    x = g.op("ReduceMean", [x], axes=[2, 3], keepdims=0)
    out = g.op("MatMul", [x, g.const("fc", w["fc"])])
    g.nodes.append(helper.make_node("Identity", [out], ["embedding"]))

    graph = helper.make_graph(
        g.nodes, "dlib_resnet128",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 150, 150])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 128])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="cz-faceconv")
    model.ir_version = 7
    save(model, out_path)


def blazeface(in_path, out_path):
    m = onnx.load(in_path)
    inits = {i.name: i for i in m.graph.initializer}
    consts = {}
    nodes = []
    for n in m.graph.node:
        if n.op_type == "ConstantOfShape":
            shape = numpy_helper.to_array(inits[n.input[0]])
            consts[n.output[0]] = shape
            continue
        if n.op_type == "Concat" and len(n.input) == 2 and n.input[1] in consts:
            axis = [a.i for a in n.attribute if a.name == "axis"][0]
            pad = np.zeros(8, np.int64)
            pad[4 + axis] = consts[n.input[1]][axis]
            pname = n.output[0] + "_pads"
            m.graph.initializer.append(numpy_helper.from_array(pad, pname))
            nodes.append(helper.make_node("Pad", [n.input[0], pname], list(n.output)))
            continue
        if n.op_type == "Reshape" and n.input[1] in inits:
            shape = numpy_helper.to_array(inits[n.input[1]]).copy()
            if shape[0] == 1:
                shape[0] = -1
                inits[n.input[1]].CopyFrom(numpy_helper.from_array(shape, n.input[1]))
        nodes.append(n)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    used = {i for n in m.graph.node for i in n.input}
    keep = [i for i in m.graph.initializer if i.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep)
    batch_dims(m)
    save(m, out_path)


def batch_dims(m):
    del m.graph.value_info[:]
    for v in list(m.graph.input) + list(m.graph.output):
        d = v.type.tensor_type.shape.dim[0]
        d.ClearField("dim_value")
        d.dim_param = "N"


def save(model, out_path):
    onnx.checker.check_model(model)
    tmp = out_path + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, out_path)


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    cmd, src, dst = argv[1:]
    if cmd == "dlib-resnet":
        dlib_resnet(src, dst)
    elif cmd == "blazeface":
        blazeface(src, dst)
    elif cmd == "batch":
        m = onnx.load(src)
        batch_dims(m)
        save(m, dst)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

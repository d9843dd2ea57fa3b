"""ONNX models (--model FILE.onnx): the graph converted to a PyTorch module by onnx2torch (optional: pip install onnx
onnx2torch), so that every node is a layer the viewer can open, its ReLUs take the backward rules, and every view
works. An ONNX file is data (a protobuf graph and its weights): loading it runs no code from the file.

The converter follows the ONNX operators it knows (onnx2torch 1.5: most of opset 9-17); a graph with another one
is refused with one sentence naming it. torch's legacy exporter (`torch.onnx.export(..., dynamo=False,
opset_version=17)`) writes graphs it converts; the newer dynamo exporter's opset-18 ReduceMean it does not."""
from __future__ import annotations

from pathlib import Path

from .checkpoint import CheckpointError, LoadedModel


def load_onnx(path: Path) -> LoadedModel:
    try:
        import onnx
        from onnx2torch import convert
    except ImportError:
        raise CheckpointError(f"{path}: opening an ONNX model needs the optional packages onnx and onnx2torch "
                              "(pip install onnx onnx2torch)") from None
    try:
        graph = onnx.load(str(path), load_external_data=False)   # weights in other files: refused below
        onnx.checker.check_model(graph)
    except Exception as e:   # noqa: BLE001  a damaged or foreign file: one sentence
        raise CheckpointError(f"{path}: not a valid ONNX model ({type(e).__name__}: {str(e).splitlines()[0][:120]})") \
            from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.graph.initializer):
        raise CheckpointError(f"{path}: its weights are in separate files (ONNX external data), which this tool does "
                              "not follow; save the model with its weights inside (onnx.save(model, path, "
                              "save_as_external_data=False))")
    _inline_shared_weights(graph)
    try:
        model = convert(graph)
    except NotImplementedError as e:
        op = str(e)
        name = op.split("operation_type='")[1].split("'")[0] if "operation_type='" in op else op[:80]
        version = op.split("version=")[1].rstrip(")") if "version=" in op else "?"
        raise CheckpointError(f"{path}: onnx2torch cannot convert the ONNX operator {name} (version {version}); "
                              "export the model with opset 17 or lower (torch.onnx.export(..., dynamo=False, "
                              "opset_version=17))") from None
    except Exception as e:   # noqa: BLE001
        raise CheckpointError(f"{path}: onnx2torch could not convert the graph ({type(e).__name__}: {e})") from None
    meta = {}
    dims = graph.graph.input[0].type.tensor_type.shape.dim if graph.graph.input else []
    values = [d.dim_value for d in dims]
    if len(values) == 4 and all(v > 0 for v in values[1:]):
        meta = {"in_channels": values[1], "input_size": [values[2], values[3]]}
    return LoadedModel(model.eval(), meta, "onnx", str(path))


def _inline_shared_weights(graph) -> None:
    """torch's exporter writes identical weights once and the others as Identity nodes of it (a ResNet's zero
    biases after folding BatchNorm); onnx2torch wants a convolution's weights as initializers: each such Identity
    becomes a copy of the initializer under its output's name."""
    import onnx
    inits = {t.name: t for t in graph.graph.initializer}
    kept = []
    for node in graph.graph.node:
        if node.op_type == "Identity" and len(node.input) == 1 and node.input[0] in inits:
            copy = onnx.TensorProto()
            copy.CopyFrom(inits[node.input[0]])
            copy.name = node.output[0]
            graph.graph.initializer.append(copy)
            inits[copy.name] = copy
        else:
            kept.append(node)
    if len(kept) < len(graph.graph.node):
        del graph.graph.node[:]
        graph.graph.node.extend(kept)

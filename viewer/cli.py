"""Command line: argument parsing and building the model, its layers, input spec and precision (the headless
export itself is viewer/export.py)."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .core import methods
from .core.attribution import ChannelTarget, UnitTarget
from .core.checkpoint import CheckpointError, load_model
from .core.graph import LayerInfo, build_graph
from .core.precision import Precision, PrecisionChoice, choose_precision
from .core.preprocess import InputSpec, spec_for
from .paths import SHIPPED_MODEL as DEFAULT_MODEL
from .paths import shipped, version

DESCRIPTION = """\
Look inside a convolutional network while it runs. The window shows the network as a row of layer
blocks; click one to see all its feature maps live, click a feature map to see that unit's activation
and its guided-backpropagation reconstruction (also deconvnet and plain gradient), every frame.
Press H in the window for every key.

examples:
  python run_viewer.py                                   # shipped All-CNN-C, webcam (else the demo)
  python run_viewer.py --source demo --layer conv6
  python run_viewer.py --source photos/ --method deconvnet
  python run_viewer.py --model my.pt                     # a checkpoint in this tool's format
  python run_viewer.py --model torchvision:resnet18 --weights DEFAULT --layer layer3   # needs torchvision
  python run_viewer.py --model timm:convnext_tiny --device cuda          # needs timm and a CUDA GPU
  python run_viewer.py --model checkpoints/allcnn_c_e15_cifar10.pt --compare checkpoints/convpool_cnn_c_cifar10.pt
  python run_viewer.py --model mypkg.nets:make_net --weights w.pt --input-size 64
  python run_viewer.py --export out/ --source cat.png --layer conv6 --units 3 17@2,5 class
"""


class UsageError(Exception):
    """A command-line error: printed as one sentence, exit code 2."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    called = Path(sys.argv[0]).name
    p = argparse.ArgumentParser(prog=called if called in ("run_viewer.py", "cnn-viewer") else "cnn-viewer",
                                description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    p.add_argument("--model", default=str(DEFAULT_MODEL),
                   help="checkpoint file (this tool's format; an ONNX graph FILE.onnx with onnx2torch installed; "
                        "TorchScript or a torch.export FILE.pt2 with --trust-model-code), package.module:callable "
                        "returning an nn.Module, torchvision:NAME or timm:NAME (default: the shipped All-CNN-C)")
    p.add_argument("--trust-model-code", action="store_true", help="open a TorchScript archive or a torch.export "
                   ".pt2 program: loading either runs code from the file, refused without this flag; use it only "
                   "for files you trust")
    p.add_argument("--weights", help="state dict / checkpoint for a --model factory; for torchvision:NAME and "
                   "timm:NAME: DEFAULT (the default), a weight name (IMAGENET1K_V2), none (random) or a file")
    p.add_argument("--source", default=None,
                   help="webcam, webcam:N, a video file, an image, a folder of images (subfolders searched too), or demo "
                        "(default: the first webcam if it opens, else demo)")
    p.add_argument("--layer", help="layer selected at start (default: conv6, else a middle layer)")
    p.add_argument("--method", choices=[m.value for m in methods.METHODS], default=methods.GUIDED.value,
                   help="reconstruction method (default: guided)")
    p.add_argument("--input-size", metavar="N|HxW", help="the model input: N for N x N, or HxW (default: from "
                   "the checkpoint, else 32); All-CNN-C is fully convolutional and accepts any size")
    p.add_argument("--precision", choices=[v.value for v in Precision], default=None,
                   help="fp32, bf16 or auto (default): bf16 (forward pass and whole-layer view) only where this "
                        "machine runs it natively (AVX512_BF16/AMX CPUs, by their ISA flags and a timed "
                        "convolution; bf16 GPUs), else fp32. fp32 results are exact (~1e-7 from autograd and "
                        "Captum); bf16 ones differ slightly. On AVX2-only CPUs bf16 is emulated, 40-70x slower")
    p.add_argument("--bf16", action="store_true", help="short for --precision bf16")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda|cuda:N|mps",
                   help="where the model, its forward pass and the reconstructions run (default auto: the GPU "
                        "when torch sees one, else the CPU); the results come to the CPU once per result")
    p.add_argument("--preset", choices=["imagenet"], help="imagenet: a 224x224 input, ImageNet's mean and std "
                   "and its 1,000 class names (shipped), for a model of any origin")
    p.add_argument("--mean", nargs="+", metavar="M", help="the input's mean per channel (after /255)")
    p.add_argument("--std", nargs="+", metavar="S", help="the input's standard deviation per channel")
    p.add_argument("--classes", metavar="FILE", help="class names, one per line, in the order of the logits")
    p.add_argument("--compare", metavar="MODEL2",
                   help="a second model (anything --model accepts) shown beside the first on the same frames, "
                        "with the same method: layers paired by position (conv1 with conv1, a max-pool with "
                        "the stride-2 convolution that replaced it), both models' feature maps, unit and "
                        "predictions; Tab swaps which one is in front")
    p.add_argument("--compare-weights", metavar="FILE", help="state dict / checkpoint for a --compare factory")
    p.add_argument("--atlas", metavar="FILE", help="a unit atlas made by python -m viewer.atlas from this model "
                   "file: key A shows the selected unit's top patches from its data set (refused if it was made "
                   "from another model)")
    p.add_argument("--output", metavar="NAME|INDEX", help="which part of the model's return value is the logits, "
                   "where it is not a tensor: a dict key or attribute name, or a tuple index (default: .logits, "
                   "then a dict's 'logits', then the first tensor)")
    p.add_argument("--leaves", action="store_true", help="show every leaf module as a layer (not just blocks)")
    p.add_argument("--window", default="1280x800", help="window size WxH (default 1280x800; at least 1024x640, "
                   "where every caption still fits: a smaller size, or resizing below it, is held at 1024x640)")
    p.add_argument("--save-dir", default="screenshots", help="where S saves screenshots (default ./screenshots)")
    p.add_argument("--record", metavar="OUT.mp4", help="record the window to this MP4 from the start, with "
                   "OUT.jsonl beside it (a line per window drawn: its clip frame, layer, unit, method, modes, top "
                   "class); Shift+S stops (and starts a new clip in --save-dir); an existing file is refused")
    p.add_argument("--fps", type=int, default=60, help="drawing rate cap (default 60; 0: no cap)")
    p.add_argument("--worker", choices=["auto", "thread", "process"], default="auto", help="where the model runs "
                   "(auto: a process of its own on the CPU, measured faster there, docs/speed.md; a thread on a GPU)")
    p.add_argument("--max-frames", type=int, help="quit after drawing N frames (scripted runs)")
    p.add_argument("--export", metavar="OUTDIR", help="headless: write feature maps, reconstructions (PNG, and "
                   "their raw values as .npy) and a JSON for the --source image or folder, then exit")
    p.add_argument("--ablate-layer", metavar="L", help="with --export: ablate each channel of layer L alone and "
                   "write the change of the top class's logit and probability per channel (sorted) to result.json "
                   "and a bar chart ablation_L.png: which units matter most for this image")
    p.add_argument("--units", nargs="+", default=None,
                   help="with --export: channels (C), positions (C@Y,X) or 'class' (top class logit); "
                        "default: the 8 most active channels")
    args = p.parse_args(argv)
    for name in ("model", "compare", "source", "atlas"):   # the README's checkpoints/... paths, also after pip install
        if isinstance(getattr(args, name, None), str):
            setattr(args, name, shipped(getattr(args, name)))
    return args


@dataclass(frozen=True)
class Built:
    model: object
    layers: list[LayerInfo]
    spec: InputSpec
    classes: list[str]
    name: str
    precision: PrecisionChoice
    output: str | None = None          # --output (core/outputs.py)
    device: str = "cpu"                # where the model is (core/device.py), as the status bar says it
    meta: dict = field(default_factory=dict)   # the checkpoint's metadata (its test accuracy, its recipe)

    @property
    def accuracy(self) -> float | None:
        acc = self.meta.get("test_accuracy")
        return float(acc) if isinstance(acc, (int, float)) else None


def load_atlas_for(args: argparse.Namespace, built: Built):
    """The --atlas file, checked to belong to the --model file (by sha256), or None."""
    if not args.atlas:
        return None
    from .atlas.store import AtlasError, check_model, load_atlas
    path = Path(args.atlas)
    if not path.is_file():
        raise UsageError(f"--atlas {path}: no such file (make one with python -m viewer.atlas)")
    try:
        atlas = load_atlas(path)
        check_model(atlas.meta, Path(args.model), path)
    except AtlasError as e:
        raise UsageError(str(e)) from None
    return atlas


def build_compare(args: argparse.Namespace, first: Built) -> Built | None:
    """The --compare model, built like --model (same --input-size, --leaves and precision), or None."""
    if not args.compare:
        return None
    if bool(first.meta.get("series")) != Path(args.compare).is_dir():
        raise UsageError("--model RUN_FOLDER and --compare RUN_FOLDER step through two runs' epochs together "
                         "([ and ]); give two run folders or two checkpoint files")
    second = argparse.Namespace(**{**vars(args), "model": args.compare, "weights": args.compare_weights,
                                   "layer": None})
    built = build(second, precision=first.precision)
    why = recipes_differ(first.meta, built.meta)
    if why:
        print(f"note: {first.name} and {built.name} were not trained alike ({why}): a difference you see may be "
              "training, not architecture", flush=True)
    if built.spec.size != first.spec.size:
        print(f"note: {built.name} sees {built.spec.size[0]}x{built.spec.size[1]} inputs, {first.name} "
              f"{first.spec.size[0]}x{first.spec.size[1]}: each model gets its own view of the frame", flush=True)
    return built


RECIPE_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "label_smoothing", "warmup", "drop_in", "drop_mid",
               "bn", "seed", "cutout", "teachers", "swa", "init")


def recipes_differ(a: dict, b: dict) -> str:
    """How two checkpoints' training recipes differ (their train_config, the architecture aside), or "" where
    they match or either says nothing."""
    ca, cb = a.get("train_config"), b.get("train_config")
    if not isinstance(ca, dict) or not isinstance(cb, dict):
        return ""
    if a.get("stages") or b.get("stages"):           # a run of several stages (--init): the stages differ in kind
        if len(a.get("stages") or []) != len(b.get("stages") or []):
            return "one was trained in several stages"
    diff = [f"{k} {ca.get(k)} vs {cb.get(k)}" for k in RECIPE_KEYS if ca.get(k) != cb.get(k)]
    return ", ".join(diff[:3]) + (" ..." if len(diff) > 3 else "")


def input_size(text) -> tuple[int, int]:
    """--input-size: "N" (N x N) or "HxW", each side between 8 and 1024 pixels."""
    try:
        parts = [int(v) for v in str(text).lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(8 <= v <= 1024 for v in parts):
        raise UsageError(f"--input-size {text}: give N or HxW, each side between 8 and 1024 pixels")
    return parts[0], parts[1]


def _floats(values, name: str, n: int) -> tuple[float, ...]:
    if len(values) != n:
        raise UsageError(f"{name}: give {n} numbers, one per input channel (got {len(values)})")
    return tuple(float(v) for v in values)


def build(args: argparse.Namespace, precision: PrecisionChoice | None = None) -> Built:
    from . import zoo
    from .core.device import DeviceError, choose_device
    from .core.device import describe as describe_device
    try:
        device = choose_device(getattr(args, "device", None))
    except DeviceError as e:
        raise UsageError(str(e)) from None
    series = None
    try:
        if Path(args.model).is_dir():   # a training run's snapshot folder: its last epoch, [ and ] step through
            from .core.checkpoint import load_checkpoint
            from .core.series import read_series
            series = read_series(Path(args.model))
            loaded = load_checkpoint(series[-1].path)
        else:
            loaded = zoo.load_zoo(args.model, args.weights) if zoo.is_zoo(args.model) else \
                load_model(args.model, args.weights, getattr(args, "trust_model_code", False))
    except CheckpointError as e:
        raise UsageError(str(e)) from None
    meta = dict(loaded.meta)
    if series is not None:
        meta["series"] = series
    if args.preset == "imagenet":      # 224x224, ImageNet's mean and std and class names, for a model of any origin
        meta.update({k: v for k, v in zoo.imagenet_meta().items() if k != "classes" or "classes" not in meta})
    if args.classes:
        try:
            meta["classes"] = [line.strip() for line in Path(args.classes).read_text().splitlines() if line.strip()]
        except OSError as e:
            raise UsageError(f"--classes {args.classes}: cannot be read ({e.strerror})") from None
    spec = spec_for(meta, loaded.model)
    if args.mean or args.std:
        spec = InputSpec(spec.size, _floats(args.mean, "--mean", spec.channels) if args.mean else spec.mean,
                         _floats(args.std, "--std", spec.channels) if args.std else spec.std, spec.channels)
    if args.input_size is not None:
        spec = InputSpec(input_size(args.input_size), spec.mean, spec.std, spec.channels)
    try:
        layers = build_graph(loaded.model, (spec.channels, *spec.size), leaves=args.leaves)
    except Exception as e:
        raise UsageError(f"the model does not run on a {spec.size[0]}x{spec.size[1]} "
                         f"{'RGB' if spec.channels == 3 else f'{spec.channels}-channel'} input "
                         f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); try --input-size") from None
    if not layers:
        raise UsageError(f"{args.model}: the model has no layer with a tensor output to show")
    if args.layer is not None and args.layer not in {l.name for l in layers}:
        stage = [l.name for l in layers if l.name.startswith(args.layer + ".")]
        if not stage:
            raise UsageError(f"unknown layer '{args.layer}' (layers: {', '.join(l.name for l in layers)})")
        print(f"--layer {args.layer}: a stage of {len(stage)} layers; starting at its last, {stage[-1]}", flush=True)
        args.layer = stage[-1]
    try:   # the logits by the rule (or --output): their width is the number of classes
        import torch

        from .core.outputs import OutputError, pick
        with torch.no_grad():
            out = loaded.model.eval()(torch.zeros(1, spec.channels, *spec.size))
            probe, where = pick(out, args.output)
        n_out = int(probe.shape[1]) if probe.dim() >= 2 else int(probe.numel())
    except OutputError as e:
        raise UsageError(str(e)) from None
    classes = list(meta.get("classes", [str(i) for i in range(n_out)]))
    if len(classes) != n_out:
        raise UsageError(f"the model has {n_out} outputs but {len(classes)} class names were given "
                         f"({'--classes' if args.classes else '--preset' if args.preset else 'its metadata'})")
    if args.bf16 and args.precision not in (None, Precision.BF16.value):
        raise UsageError(f"--bf16 and --precision {args.precision} contradict each other: give one")
    if precision is None:
        requested = Precision.BF16 if args.bf16 else Precision(args.precision or Precision.AUTO.value)
        precision = choose_precision(requested, device)
    name = Path(args.model).name if ":" not in args.model else args.model
    if meta.get("random_weights"):
        name += " (random weights)"
    if where:   # which part of a non-tensor return value the predictions show (core/outputs.py)
        name += f" [logits = {type(out).__name__}{where}]"
    model = loaded.model if device.type == "cpu" else loaded.model.to(device)   # layers were found on the CPU
    return Built(model, layers, spec, classes, name, precision, args.output, describe_device(device), meta)


def parse_units(specs: list[str] | None, layer: str):
    if not specs:
        return None
    out = []
    for s in specs:
        try:
            if s == "class":
                out.append("class")
            elif "@" in s:
                c, pos = s.split("@")
                y, x = pos.split(",")
                out.append(UnitTarget(layer, int(c), int(y), int(x)))
            else:
                out.append(ChannelTarget(layer, int(s)))
        except ValueError:
            raise UsageError(f"--units '{s}': write a channel (12), a position (12@3,4) or 'class'") from None
    return out

"""Models from the zoos people have: `--model torchvision:resnet18`, `--model timm:convnext_tiny`, and the
ImageNet preset for any model (`--preset imagenet`).

torchvision: any `torchvision.models` builder by name; `--weights DEFAULT` (the default here), a weight enum
name (IMAGENET1K_V2), `none` (random weights) or a state-dict file. Class names, the input size and the
normalisation come from the weights' metadata and transforms. timm: `timm.create_model(name)`, pretrained
unless `--weights none` (or a state-dict file); its pretrained config gives mean, std and input size.
Neither package is a requirement of this tool: without it, the sentence says what to install; weights are
downloaded once by the package into its own cache, so the first use needs a connection.
"""
from __future__ import annotations

from pathlib import Path

from .core.checkpoint import CheckpointError, LoadedModel, read_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLASSES_FILE = Path(__file__).resolve().parent / "data" / "imagenet_classes.txt"


def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet class names, in the order of the usual logits (shipped with the tool)."""
    return CLASSES_FILE.read_text().splitlines()


def imagenet_meta(classes: list[str] | None = None, size: int = 224) -> dict:
    return {"classes": classes or imagenet_classes(), "input_size": [size, size], "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD)}


def is_zoo(spec: str) -> bool:
    return spec.startswith(("torchvision:", "timm:"))


def _state_dict_into(model, path: str) -> None:
    try:
        sd = read_weights(Path(path))
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"--weights {path}: cannot be read ({type(e).__name__}: {e})") from None
    sd = sd.get("state_dict", sd) if isinstance(sd, dict) else sd
    try:
        model.load_state_dict(sd)
    except Exception as e:
        raise CheckpointError(f"--weights {path}: does not fit the model ({str(e).splitlines()[0]})") from None


def load_torchvision(name: str, weights: str | None) -> LoadedModel:
    try:
        import torchvision.models as tvm
    except Exception as e:   # not installed, or built for another torch
        raise CheckpointError(f"--model torchvision:{name} needs torchvision, which is optional here and is not "
                              f"usable ({type(e).__name__}): pip install torchvision") from None
    try:
        enum = tvm.get_model_weights(name)
    except Exception:
        known = ", ".join(sorted(tvm.list_models())[:12])
        raise CheckpointError(f"torchvision has no model '{name}' (some it has: {known}, ...)") from None
    choice = "DEFAULT" if weights is None else weights
    w = None
    if choice.lower() != "none" and not Path(choice).is_file():
        try:
            w = enum.DEFAULT if choice == "DEFAULT" else enum[choice]
        except KeyError:
            raise CheckpointError(f"--weights {choice}: not a weight of {name} "
                                  f"({', '.join(m.name for m in enum)}, DEFAULT, none or a file)") from None
    try:
        model = tvm.get_model(name, weights=w)
    except Exception as e:
        raise CheckpointError(f"the weights {w} of {name} could not be fetched ({type(e).__name__}); torchvision "
                              "downloads them once into its cache, which needs a connection; --weights none opens "
                              "the model with random weights") from None
    if w is None:
        meta = imagenet_meta()
        if Path(choice).is_file():
            _state_dict_into(model, choice)
        else:
            meta["random_weights"] = True
    else:
        t = w.transforms()
        size = t.crop_size[0] if isinstance(t.crop_size, (list, tuple)) else int(t.crop_size)
        meta = {"classes": list(w.meta["categories"]), "input_size": [size, size], "mean": list(t.mean),
                "std": list(t.std), "weights": str(w)}
    return LoadedModel(model.eval(), meta, f"torchvision:{name}", f"torchvision:{name}")


def load_timm(name: str, weights: str | None) -> LoadedModel:
    if weights is not None and weights not in ("DEFAULT", "none") and not Path(weights).is_file():
        raise CheckpointError(f"--weights {weights}: for timm give DEFAULT (pretrained), none (random) or a "
                              f"state-dict file; a pretrained tag goes in the name (timm:{name}.TAG)")
    try:
        import timm
    except Exception as e:
        raise CheckpointError(f"--model timm:{name} needs timm, which is optional here and is not usable "
                              f"({type(e).__name__}): pip install timm") from None
    pretrained = weights is None or weights == "DEFAULT"
    if pretrained:
        print(f"timm: loading the pretrained weights of {name} (downloaded once into the Hugging Face cache; "
              "the first use needs a connection)", flush=True)
    try:
        model = timm.create_model(name, pretrained=pretrained)
    except Exception as e:
        raise CheckpointError(f"timm could not create {name}{' with pretrained weights' if pretrained else ''} "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); --weights none "
                              "opens it with random weights") from None
    if weights is not None and Path(weights).is_file():
        _state_dict_into(model, weights)
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    size = cfg.get("input_size", (3, 224, 224))
    n = getattr(model, "num_classes", 1000)
    meta = {"classes": imagenet_classes() if n == 1000 else [str(i) for i in range(n)],
            "input_size": [int(size[1]), int(size[2])], "mean": list(cfg.get("mean", IMAGENET_MEAN)),
            "std": list(cfg.get("std", IMAGENET_STD))}
    if weights is not None and weights.lower() == "none":
        meta["random_weights"] = True
    return LoadedModel(model.eval(), meta, f"timm:{name}", f"timm:{name}")


def load_zoo(spec: str, weights: str | None) -> LoadedModel:
    kind, name = spec.split(":", 1)
    return load_torchvision(name, weights) if kind == "torchvision" else load_timm(name, weights)

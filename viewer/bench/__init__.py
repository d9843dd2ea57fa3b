"""Benchmarks that print tables:  python -m viewer.bench [core|live|family|lrp|atlas|resnet|soak|all] [--checkpoint PATH] [--repeat N] [--quick]

core   the analysis alone at 32x32: plain, traced and replayed forward passes, one unit and all 192 conv6
       units (with their achieved GFLOP/s against this machine's measured convolution peak), and the peers
       side by side on the same unit with the same result: Captum, a plain PyTorch hook implementation,
       pytorch-grad-cam where it is installed (bench/peers.py).
live   where the milliseconds of one live frame go (source, preprocess, forward, unit, to numpy, draw),
       the real app loop headless (SDL dummy driver), and the webcam-scale case: All-CNN-C at 224x224.
family All-CNN-C beside Model C: one unit, the whole layer, a --compare step (bench/family.py).
lrp    relevance beside guided backprop: one unit, a class, W, K, the live pipeline, zennit where installed.
soak   a long session's memory in the real app loop (--frames 30000; minutes; not in "all").
atlas  the unit atlas of every convolution layer over the CIFAR-10 test set (minutes; not in "all").
resnet ResNet-18 at 224x224 from torchvision (needs torchvision; not in "all").
process the model in its own process against the worker thread, in the real app loop (issue 36's probe; not in "all").
Medians over repeated runs after a warm-up, on this machine's CPU, torch's default thread count. The header
names the CPU, its vector ISA and the precision --precision auto picks here, with the reason. Timings on
shared machines vary by 10-30% between runs: compare the rows of one run (the notes give the ratios).
"""

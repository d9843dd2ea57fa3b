#!/usr/bin/env python3
"""Launch the viewer:  python run_viewer.py [--source demo] [--model ...]  (see --help).

The same as the `cnn-viewer` command and `python -m viewer` (viewer/launch.py); this file lets the tool run
from a checkout without installing it.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from viewer.launch import main, run  # noqa: E402,F401  (main: the in-process entry the tests call)

if __name__ == "__main__":
    sys.exit(run())

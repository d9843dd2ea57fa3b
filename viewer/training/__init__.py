"""The training lab beside the tool: train, distil, average and evaluate the networks the viewer opens.

    python -m viewer.training.train [--arch allcnn_c] [--epochs 35] [--resume]     (cnn-viewer-train)
    python -m viewer.training.evaluate --checkpoint PATH [--flip] [--ensemble ...]  (cnn-viewer-evaluate)

Nothing in the viewer imports this package; it imports the networks (viewer/nets) and the checkpoint
format and precision choice (viewer/core).
"""

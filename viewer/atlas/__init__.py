"""The unit atlas: what each unit is, from the images of a data set that drive it hardest.

    python -m viewer.atlas [--model M] [--data D] [--layers L ...] [--top K] [--out FILE] [--figure PNG]

data.py reads the data sets, scan.py finds the top K per channel and cuts the patches and reconstructions
(torch + numpy), build.py runs both over a data set, store.py writes and reads the .npz, figure.py draws the
paper's Figure 3, __main__.py is the command. The window opens an atlas with --atlas FILE (key A).
"""

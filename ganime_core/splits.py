"""The one vocabulary of data splits: what each is for and which folder of a data set holds it.

Three, always. `train` fits weights. `selection` is carved from the train folder (seeded by
`data.selection_seed`, sized by `data.selection`): every decision made while training or
sweeping reads it — the best generator of a run, ASHA's cuts, TPE's ranking, the sweep's best
trial. `test` is the data set's held-out folder (the Kaggle set's val/, the paper's test): only
`ganime promote`'s gate, `ganime evaluate` (by default) and `ganime compare` read it, so a number
measured on it was never used to choose anything and is not biased by the choice.

No TensorFlow here: drivers and the config name splits without it.
"""

from __future__ import annotations

from typing import Literal

Split = Literal["train", "selection", "test"]
TRAIN: Split = "train"
SELECTION: Split = "selection"
TEST: Split = "test"
SPLITS: tuple[Split, ...] = (TRAIN, SELECTION, TEST)
# What may be measured: a split's metrics name it, so `selection/fid` and `test/fid` never mix.
EVALUATED: tuple[Split, ...] = (SELECTION, TEST)

# The Kaggle layout's folders: train/ holds train and selection, val/ the test split.
TRAIN_FOLDER = "train"
TEST_FOLDER = "val"
FOLDERS = (TRAIN_FOLDER, TEST_FOLDER)


def folder_of(split: str) -> str:
    """The data set folder (train or val) a split's images come from."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose {', '.join(SPLITS)}")
    return TEST_FOLDER if split == TEST else TRAIN_FOLDER


def split_folders(layout: str, folder: str) -> tuple[str, ...]:
    """Sub-folders that hold a folder's images: (folder,) if paired, (sketch domain, colour
    domain) if not: train -> trainA/, trainB/."""
    return (folder,) if layout == "paired" else (f"{folder}A", f"{folder}B")

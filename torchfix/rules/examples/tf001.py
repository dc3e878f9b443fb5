"""TF001's before/after examples and valid near misses (checked by tests/test_rule_examples.py)."""

from __future__ import annotations

from torchfix.rule import Applicability, Example, Valid
from torchfix.rules.examples.tf001_reported import REPORTED

UNSAFE = Applicability.UNSAFE

_FIXED = (
    # text listdir
    Example(
        '''\
import os

from torch.utils.data import Dataset


class TextDataset(Dataset):
    """Text files in root/<class>/<file>.txt."""

    def __init__(self, root, transform=None):
        self.root = root
        self.transform = transform
        self.classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            class_dir = os.path.join(root, c)
            for f in sorted(os.listdir(class_dir)):
                if f.endswith(".txt"):
                    self.samples.append((os.path.join(class_dir, f), self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        with open(path) as f:
            text = f.read()
        if self.transform is not None:
            text = self.transform(text)
        return text, label
''',
        '''\
import os

from torch.utils.data import Dataset
from pathlib import Path
from torchvision.datasets import DatasetFolder


class TextDataset(DatasetFolder):
    """Text files in root/<class>/<file>.txt."""

    def __init__(self, root, transform=None):
        super().__init__(
            root,
            loader=lambda path: Path(path).read_text(),
            is_valid_file=lambda path: path.endswith(".txt"),
            transform=transform,
            allow_empty=True,
        )
''',
        UNSAFE,
        row="os",
    ),
    # lower ext open read
    Example(
        '''\
import os

import torch


class Reviews(torch.utils.data.Dataset):
    def __init__(self, root, transform=None, target_transform=None):
        self.transform = transform
        self.target_transform = target_transform
        self.classes = [d for d in sorted(os.listdir(root)) if os.path.isdir(os.path.join(root, d))]
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.samples = []
        for name in self.classes:
            for fname in sorted(os.listdir(os.path.join(root, name))):
                if fname.lower().endswith((".txt", ".md")):
                    path = os.path.join(root, name, fname)
                    self.samples.append((path, self.class_to_idx[name]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, idx):
        path, target = self.samples[idx]
        text = open(path, encoding="utf-8").read()
        if self.transform:
            text = self.transform(text)
        if self.target_transform:
            target = self.target_transform(target)
        return text, target
''',
        '''\
import os

import torch
from torchvision.datasets import DatasetFolder


class Reviews(DatasetFolder):
    def __init__(self, root, transform=None, target_transform=None):
        super().__init__(
            root,
            loader=lambda path: open(path, encoding="utf-8").read(),
            extensions=(".txt", ".md"),
            transform=transform,
            target_transform=target_transform,
            allow_empty=True,
        )
''',
        UNSAFE,
        row="os",
    ),
    # pil splitext
    Example(
        '''\
import os

from PIL import Image
from torch.utils.data import Dataset

IMAGE_TYPES = (".jpg", ".jpeg", ".png")


class Pets(Dataset):
    def __init__(self, root, transform=None):
        self.root = root
        self.transform = transform
        self.classes = sorted(os.listdir(root))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for f in sorted(os.listdir(os.path.join(root, c))):
                if os.path.splitext(f)[1].lower() in IMAGE_TYPES:
                    self.samples.append((os.path.join(root, c, f), self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        image = Image.open(path).convert("RGB")
        if self.transform is not None:
            image = self.transform(image)
        return image, label
''',
        '''\
import os

from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder

IMAGE_TYPES = (".jpg", ".jpeg", ".png")


class Pets(ImageFolder):
    def __init__(self, root, transform=None):
        super().__init__(
            root,
            is_valid_file=lambda path: os.path.splitext(path)[1].lower() in IMAGE_TYPES,
            transform=transform,
            allow_empty=True,
        )
''',
        UNSAFE,
        row="image",
    ),
    # npy glob scandir
    Example(
        '''\
import glob
import os

import numpy as np
from torch.utils.data import Dataset


class Spectrograms(Dataset):
    def __init__(self, root):
        self.classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for path in sorted(glob.glob(os.path.join(root, c, "*.npy"))):
                self.samples.append((path, self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        x = np.load(path)
        return x, label
''',
        '''\
import glob
import os

import numpy as np
from torch.utils.data import Dataset
from torchvision.datasets import DatasetFolder


class Spectrograms(DatasetFolder):
    def __init__(self, root):
        super().__init__(
            root,
            loader=np.load,
            is_valid_file=lambda path: not os.path.basename(path).startswith(".") and path.endswith(".npy"),
            allow_empty=True,
        )
''',
        UNSAFE,
        row="glob",
    ),
    # pathlib glob
    Example(
        '''\
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset


class Features(Dataset):
    def __init__(self, root, transform=None):
        self.root = Path(root)
        self.transform = transform
        self.classes = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = [
            (p, self.class_to_idx[c])
            for c in self.classes
            for p in sorted((self.root / c).glob("*.npy"))
        ]

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        p, y = self.samples[index]
        x = np.load(p).astype(np.float32)
        if self.transform is not None:
            x = self.transform(x)
        return x, y
''',
        '''\
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset
from torchvision.datasets import DatasetFolder


class Features(DatasetFolder):
    def __init__(self, root, transform=None):
        super().__init__(
            Path(root),
            loader=lambda p: np.load(p).astype(np.float32),
            is_valid_file=lambda path: path.endswith(".npy"),
            transform=transform,
            allow_empty=True,
        )
''',
        UNSAFE,
        row="pathlib",
    ),
    # walk png
    Example(
        '''\
import os

from PIL import Image
from torch.utils.data import Dataset


class Scans(Dataset):
    def __init__(self, root, transform=None):
        self.transform = transform
        self.classes = sorted(next(os.walk(root))[1])
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for dirpath, _, files in sorted(os.walk(os.path.join(root, c), followlinks=True)):
                for f in sorted(files):
                    if f.endswith(".png"):
                        self.samples.append((os.path.join(dirpath, f), self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        img = Image.open(path).convert("RGB")
        if self.transform is not None:
            img = self.transform(img)
        return img, label
''',
        '''\
import os

from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder


class Scans(ImageFolder):
    def __init__(self, root, transform=None):
        super().__init__(
            root,
            is_valid_file=lambda path: path.endswith(".png"),
            transform=transform,
            allow_empty=True,
        )
''',
        UNSAFE,
        row="walk",
    ),
    # walknext zip chain
    Example(
        '''\
import os

import numpy as np
import torch
from torch.utils.data import Dataset


class Signals(Dataset):
    def __init__(self, data_dir):
        self.classes = sorted(next(os.walk(data_dir))[1])
        self.class_to_idx = dict(zip(self.classes, range(len(self.classes))))
        self.samples = []
        for label, c in enumerate(self.classes):
            folder = os.path.join(data_dir, c)
            for f in sorted(next(os.walk(folder))[2]):
                if f.endswith(".npy"):
                    self.samples.append((os.path.join(folder, f), label))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        signal = np.load(path)
        signal = torch.from_numpy(signal)
        return signal, label
''',
        '''\
import os

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.datasets import DatasetFolder


class Signals(DatasetFolder):
    def __init__(self, data_dir):
        super().__init__(
            data_dir,
            loader=lambda path: torch.from_numpy(np.load(path)),
            is_valid_file=lambda path: path.endswith(".npy"),
            allow_empty=True,
        )
''',
        UNSAFE,
        row="os",
    ),
    # aliases comprehension
    Example(
        '''\
import os

from torch.utils.data import Dataset


def read_tokens(path):
    with open(path) as f:
        return f.read().split()


class Corpus(Dataset):
    def __init__(self, root):
        self.labels = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        self.label_ids = {c: i for i, c in enumerate(self.labels)}
        self.files = [
            (os.path.join(root, c, f), self.label_ids[c])
            for c in self.labels
            for f in sorted(os.listdir(os.path.join(root, c)))
            if f.lower().endswith(".txt")
        ]

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        path, label = self.files[index]
        tokens = read_tokens(path)
        return tokens, label
''',
        '''\
import os

from torch.utils.data import Dataset
from torchvision.datasets import DatasetFolder


def read_tokens(path):
    with open(path) as f:
        return f.read().split()


class Corpus(DatasetFolder):
    def __init__(self, root):
        super().__init__(
            root,
            loader=read_tokens,
            extensions=(".txt",),
            allow_empty=True,
        )
        self.labels = self.classes
        self.label_ids = self.class_to_idx
        self.files = self.samples
''',
        UNSAFE,
        row="os",
    ),
    # sort iterdir
    Example(
        '''\
import os
from pathlib import Path

from torch.utils.data import Dataset


class Notes(Dataset):
    def __init__(self, root):
        self.root = root
        self.classes = os.listdir(root)
        self.classes.sort()
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for i, c in enumerate(self.classes):
            for p in sorted((Path(root) / c).iterdir()):
                self.samples.append((p, i))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        p, label = self.samples[index]
        text = p.read_text()
        return text, label
''',
        '''\
import os
from pathlib import Path

from torch.utils.data import Dataset
from torchvision.datasets import DatasetFolder


class Notes(DatasetFolder):
    def __init__(self, root):
        super().__init__(
            root,
            loader=lambda p: Path(p).read_text(),
            is_valid_file=lambda path: True,
            allow_empty=True,
        )
''',
        UNSAFE,
        row="pathlib",
    ),
    # imagefolder default
    Example(
        '''\
import os

import PIL.Image
from torch.utils.data import Dataset


class Photos(Dataset):
    def __init__(self, root, transform=None, target_transform=None):
        self.transform = transform
        self.target_transform = target_transform
        self.classes = sorted(os.listdir(root))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for f in sorted(os.listdir(os.path.join(root, c))):
                if f.lower().endswith((".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")):
                    self.samples.append((os.path.join(root, c, f), self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, target = self.samples[index]
        sample = PIL.Image.open(path).convert("RGB")
        if self.transform is not None:
            sample = self.transform(sample)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return sample, target
''',
        '''\
import os

import PIL.Image
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder


class Photos(ImageFolder):
    def __init__(self, root, transform=None, target_transform=None):
        super().__init__(
            root,
            transform=transform,
            target_transform=target_transform,
            allow_empty=True,
        )
''',
        UNSAFE,
        row="image",
    ),
    # split kept
    Example(
        '''\
import os

from torch.utils import data


class SplitText(data.Dataset):
    def __init__(self, root, split="train", transform=None):
        self.split = split
        self.root = os.path.join(root, split)
        self.transform = transform
        self.classes = sorted(os.listdir(self.root))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            d = os.path.join(self.root, c)
            for f in sorted(os.listdir(d)):
                if not f.endswith(".txt"):
                    continue
                self.samples.append((os.path.join(d, f), self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        with open(path, encoding="utf-8") as fh:
            text = fh.read().strip()
        if self.transform is not None:
            text = self.transform(text)
        return text, label
''',
        '''\
import os

from torch.utils import data
from pathlib import Path
from torchvision.datasets import DatasetFolder


class SplitText(DatasetFolder):
    def __init__(self, root, split="train", transform=None):
        super().__init__(
            os.path.join(root, split),
            loader=lambda path: Path(path).read_text(encoding="utf-8").strip(),
            is_valid_file=lambda path: path.endswith(".txt"),
            transform=transform,
            allow_empty=True,
        )
        self.split = split
''',
        UNSAFE,
        row="os",
    ),
    # targets scandir files
    Example(
        '''\
import os

import torch
from torch.utils.data import Dataset


class Tensors(Dataset):
    """Saved tensors, one folder per class."""

    def __init__(self, root, target_transform=None):
        self.target_transform = target_transform
        classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
        self.class_to_idx = {name: index for index, name in enumerate(classes)}
        self.samples = []
        for name, index in self.class_to_idx.items():
            folder = os.path.join(root, name)
            for file in sorted(os.listdir(folder)):
                if file.endswith(".pt"):
                    self.samples.append((os.path.join(folder, file), index))
        self.labels = [label for _, label in self.samples]

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        x = torch.load(path)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return x, label
''',
        '''\
import os

import torch
from torch.utils.data import Dataset
from torchvision.datasets import DatasetFolder


class Tensors(DatasetFolder):
    """Saved tensors, one folder per class."""

    def __init__(self, root, target_transform=None):
        super().__init__(
            root,
            loader=torch.load,
            is_valid_file=lambda path: path.endswith(".pt"),
            target_transform=target_transform,
            allow_empty=True,
        )
        self.labels = self.targets
''',
        UNSAFE,
        row="os",
    ),
    # from imports inline return
    Example(
        '''\
from os import listdir
from os.path import isdir, join

from torch.utils.data import Dataset


class Docs(Dataset):
    def __init__(self, root):
        self.classes = sorted(c for c in listdir(root) if isdir(join(root, c)))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for f in sorted(listdir(join(root, c))):
                if f.endswith(".txt") and not f.startswith("_"):
                    self.samples.append((join(root, c, f), self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        return open(path).read(), label
''',
        '''\
from os import listdir
from os.path import basename, isdir, join

from torch.utils.data import Dataset
from torchvision.datasets import DatasetFolder


class Docs(DatasetFolder):
    def __init__(self, root):
        super().__init__(
            root,
            loader=lambda path: open(path).read(),
            is_valid_file=lambda path: path.endswith(".txt") and not basename(path).startswith("_"),
            allow_empty=True,
        )
''',
        UNSAFE,
        row="os",
    ),
    # module extensions
    Example(
        '''\
import os

from torch.utils.data import Dataset

EXTENSIONS = (".txt", ".md")


class Articles(Dataset):
    def __init__(self, root, transform=None):
        self.transform = transform
        self.classes = sorted(name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name)))
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.samples = []
        for name in self.classes:
            folder = os.path.join(root, name)
            for file_name in sorted(os.listdir(folder)):
                if file_name.lower().endswith(EXTENSIONS):
                    self.samples.append((os.path.join(folder, file_name), self.class_to_idx[name]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
        if self.transform is not None:
            text = self.transform(text)
        return text, label
''',
        '''\
import os

from torch.utils.data import Dataset
from pathlib import Path
from torchvision.datasets import DatasetFolder

EXTENSIONS = (".txt", ".md")


class Articles(DatasetFolder):
    def __init__(self, root, transform=None):
        super().__init__(
            root,
            loader=lambda path: Path(path).read_text(encoding="utf-8"),
            extensions=EXTENSIONS,
            transform=transform,
            allow_empty=True,
        )
''',
        UNSAFE,
        row="os",
    ),
)
EXAMPLES = _FIXED + REPORTED

VALID = (
    Valid(
        '''\
import os

from PIL import Image
from torch.utils.data import Dataset


class Unlabelled(Dataset):
    def __init__(self, root):
        self.paths = sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith(".png"))

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        return Image.open(self.paths[index]).convert("RGB")
''',
        "a flat folder without classes is not TF001",
    ),
    Valid(
        '''\
import csv

from torch.utils.data import Dataset


class Table(Dataset):
    def __init__(self, path):
        with open(path) as f:
            self.rows = list(csv.reader(f))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]
''',
        "a dataset read from a CSV file",
    ),
    Valid(
        '''\
import os


class Index:
    def __init__(self, root):
        self.files = {c: sorted(os.listdir(os.path.join(root, c))) for c in sorted(os.listdir(root))}

    def __getitem__(self, c):
        return self.files[c]
''',
        "not a torch Dataset",
    ),
    Valid(
        '''\
import numpy as np
from torch.utils.data import Dataset
from torchvision.datasets import DatasetFolder


class Arrays(DatasetFolder):
    def __init__(self, root):
        super().__init__(root, loader=np.load, extensions=(".npy",))


class Wrapped(Dataset):
    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        return self.base[index]
''',
        "already a DatasetFolder; a wrapper dataset lists nothing",
    ),
    Valid(
        '''\
import os

from PIL import Image
from torch.utils.data import Dataset


class Clips(Dataset):
    def __init__(self, root, length=8):
        self.clips = []
        for video in sorted(os.listdir(root)):
            frames = sorted(os.listdir(os.path.join(root, video)))
            for start in range(0, len(frames) - length + 1, length):
                self.clips.append([os.path.join(root, video, f) for f in frames[start:start + length]])

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, index):
        return [Image.open(p).convert("RGB") for p in self.clips[index]]
''',
        "nested listings whose folders are not classes (video clips of frames)",
    ),
)

"""TF001 dataset-folder: a hand-written root/<class>/<file> Dataset -> a thin DatasetFolder subclass."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m

from torchfix.names import ImportRequest, Reference
from torchfix.patterns import code
from torchfix.rule import Applicability, Example, Fix, Rule, Valid
from torchfix.rules._datasets import Decline, ModuleFacts, Plan, analyze, is_dataset_class, module_facts
from torchfix.rules._suites import is_docstring

UNSAFE = Applicability.UNSAFE

_EXAMPLES = (
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
from os.path import isdir, join

from torch.utils.data import Dataset
from os.path import basename
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
    # the class folders are sorted with a key (natural sort?) or reversed; torchvision sorts names plainly.
    Example(
        '''\
import os
import re

from torch.utils.data import Dataset


def natural_key(name):
    return [int(t) if t.isdigit() else t for t in re.split("([0-9]+)", name)]


class Stages(Dataset):
    def __init__(self, root):
        self.classes = sorted(os.listdir(root), key=natural_key)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for f in sorted(os.listdir(os.path.join(root, c))):
                self.samples.append((os.path.join(root, c, f), self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        return open(path).read(), label
''',
        None,
        row="declined",
    ),
    # the class folders are listed in file-system order; torchvision sorts them by name.
    Example(
        '''\
import os

import numpy as np
from torch.utils.data import Dataset


class Clips(Dataset):
    def __init__(self, root):
        self.classes = os.listdir(root)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for f in os.listdir(os.path.join(root, c)):
                self.samples.append((os.path.join(root, c, f), self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        return np.load(path), label
''',
        None,
        row="declined",
    ),
    # labels are parsed from the folder names (int(name)); torchvision numbers the sorted folders.
    Example(
        '''\
import os

from PIL import Image
from torch.utils.data import Dataset


class Digits(Dataset):
    def __init__(self, root, transform=None):
        self.transform = transform
        self.samples = []
        for digit in sorted(os.listdir(root)):
            for f in sorted(os.listdir(os.path.join(root, digit))):
                self.samples.append((os.path.join(root, digit, f), int(digit)))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        img = Image.open(path).convert("RGB")
        if self.transform is not None:
            img = self.transform(img)
        return img, label
''',
        None,
        row="declined",
    ),
    # the files sit two folders below the root (root/<group>/<class>/<file>); DatasetFolder reads one class level.
    Example(
        '''\
import os

from PIL import Image
from torch.utils.data import Dataset


class Omniglot(Dataset):
    def __init__(self, root):
        self.characters = []
        self.samples = []
        for alphabet in sorted(os.listdir(root)):
            for character in sorted(os.listdir(os.path.join(root, alphabet))):
                label = len(self.characters)
                self.characters.append((alphabet, character))
                for f in sorted(os.listdir(os.path.join(root, alphabet, character))):
                    self.samples.append((os.path.join(root, alphabet, character, f), label))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        return Image.open(path).convert("L"), label
''',
        None,
        row="declined",
    ),
    # the folders are listed through a storage backend (`client.listdir(root)`), not os or pathlib.
    Example(
        '''\
import os

from torch.utils.data import Dataset


class RemoteImages(Dataset):
    def __init__(self, root, client):
        self.client = client
        self.classes = sorted(client.listdir(root))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for f in sorted(client.listdir(os.path.join(root, c))):
                self.samples.append((os.path.join(root, c, f), self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        return self.client.get(path), label
''',
        None,
        row="declined",
    ),
    # samples are loaded eagerly in __init__; DatasetFolder loads each file in __getitem__.
    Example(
        '''\
import os

import numpy as np
from torch.utils.data import Dataset


class InMemory(Dataset):
    def __init__(self, root):
        self.classes = sorted(os.listdir(root))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for f in sorted(os.listdir(os.path.join(root, c))):
                self.samples.append((np.load(os.path.join(root, c, f)), self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        x, label = self.samples[index]
        return x, label
''',
        None,
        row="declined",
    ),
    # one glob over root/*/<files> sorted by full path orders classes differently from torchvision when folder names share a prefix.
    Example(
        '''\
import glob
import os

from PIL import Image
from torch.utils.data import Dataset


class Flowers(Dataset):
    def __init__(self, root):
        self.paths = sorted(glob.glob(os.path.join(root, "*", "*.jpg")))
        self.classes = sorted({os.path.basename(os.path.dirname(p)) for p in self.paths})
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        path = self.paths[index]
        label = self.class_to_idx[os.path.basename(os.path.dirname(path))]
        return Image.open(path).convert("RGB"), label
''',
        None,
        row="declined",
    ),
    # os.walk yields folders in file-system order; torchvision sorts them.
    Example(
        '''\
import os

from torch.utils.data import Dataset


class Logs(Dataset):
    def __init__(self, root):
        self.classes = sorted(os.listdir(root))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for dirpath, _, files in os.walk(os.path.join(root, c)):
                for f in sorted(files):
                    self.samples.append((os.path.join(dirpath, f), self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        return open(path).read(), label
''',
        None,
        row="declined",
    ),
    # hidden class folders are skipped; torchvision lists them as classes.
    Example(
        '''\
import os

from torch.utils.data import Dataset


class Letters(Dataset):
    def __init__(self, root):
        self.classes = sorted(d for d in os.listdir(root) if not d.startswith("."))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for f in sorted(os.listdir(os.path.join(root, c))):
                self.samples.append((os.path.join(root, c, f), self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        return open(path).read(), label
''',
        None,
        row="declined",
    ),
    # plain files at the root become empty classes; torchvision lists folders only.
    Example(
        '''\
import glob
import os

import numpy as np
from torch.utils.data import Dataset


class Embeddings(Dataset):
    def __init__(self, root):
        self.classes = sorted(os.listdir(root))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for path in sorted(glob.glob(os.path.join(root, c, "*.npy"))):
                self.samples.append((path, self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        return np.load(path), label
''',
        None,
        row="declined",
    ),
    # the class defines class_counts, which a thin subclass would lose.
    Example(
        '''\
import os

from torch.utils.data import Dataset


class Tagged(Dataset):
    def __init__(self, root):
        self.classes = sorted(os.listdir(root))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for f in sorted(os.listdir(os.path.join(root, c))):
                self.samples.append((os.path.join(root, c, f), self.class_to_idx[c]))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        return open(path).read(), label

    def class_counts(self):
        return [sum(1 for _, y in self.samples if y == i) for i in range(len(self.classes))]
''',
        None,
        row="declined",
    ),
)
_VALID = (
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


class DatasetFolderRule(Rule):
    CODE = "TF001"
    SLUG = "dataset-folder"
    IDIOM = "torchvision DatasetFolder / ImageFolder"
    SUMMARY = "Use torchvision's DatasetFolder or ImageFolder instead of a hand-written `root/<class>/<file>` dataset."
    FIX_SAFETY = "unsafe"
    DOCS = """\
## Why
torchvision's `DatasetFolder` (and `ImageFolder` for RGB images) already does what
a hand-written `root/<class>/<file>` dataset does: list the class folders, number
them, collect `(path, class index)` samples, and load, transform and return one
file per item. The subclass keeps the class name and constructor, so callers do
not change, and gains `classes`, `class_to_idx`, `samples` and `targets`.

## Fix safety
Unsafe. Before writing the fix, torchfix reads the original symbolically and
compares it with torchvision 0.29's rules:

- class folders: torchvision lists every folder of the root (hidden ones too),
  sorted by name, numbered 0..n-1. An original that sorts with a key (natural
  sort), does not sort, skips hidden folders, parses labels (`int(name)`) or
  lists two folder levels (`alphabet/character`) is reported without a fix.
- files: torchvision walks each class folder recursively, sorted, and keeps the
  files that pass `extensions` (matched case-insensitively) or `is_valid_file`.
  The original's filter moves into `is_valid_file` unchanged, with what the
  listing itself filters: `glob.glob("*.jpg")` is case-sensitive and skips
  hidden names, `Path.glob` keeps hidden names, `os.listdir` filters nothing.
  Only a test that is exactly `name.lower().endswith(<lower-case suffixes>)`
  (literals or a module-level tuple of them) becomes `extensions=`.
  Unsorted listings, `rglob`/recursive globs and an unsorted `os.walk` are
  reported without a fix.
- an empty class folder is a class with no samples in the original; torchvision
  raises `FileNotFoundError` unless `allow_empty=True`, which the fix passes
  (torchvision >= 0.17).
- items: the loader is the original's load expression (`with open(p) as f:
  f.read()` becomes `Path(p).read_text()`), `ImageFolder`'s default loader when it
  is `Image.open(p).convert("RGB")`; `transform` and `target_transform` are the
  same objects, applied the same way. Instance state in the loader (a storage
  client), eager loading in `__init__`, extra methods or attributes torchvision
  would not set are reported without a fix.

The assumption that remains is about the data: a one-level listing assumes the
class folders hold no sub-folders (torchvision would load their files too), a
`glob.glob(os.path.join(root, c, ...))` listing also assumes no class name holds
a glob character (glob would expand it), `os.walk` without `followlinks=True`
assumes no linked sub-folders, and every fix assumes the root holds at least one
class folder (torchvision raises on an empty root; the original built an empty
dataset).

## What could go wrong
`samples` holds `str` paths where a pathlib original held `Path` objects (the
loader gets `Path(path)` where it used path methods). Glob patterns are read with
POSIX matching (case-sensitive). A dataset that callers mutate (`ds.samples =
...`) after construction keeps working, but `targets` is not updated by it.

## Verify
Build the original and the rewritten dataset on a tree with nested folders, a
non-matching extension, a hidden file and an empty class folder, and compare
`len`, `classes`, `class_to_idx` and every item (tests/test_dataset_folder.py).
"""
    ROWS = {
        "os": "`os.listdir` / `os.scandir` / `next(os.walk(...))` class and file listings -> `DatasetFolder(loader=, extensions= or is_valid_file=)`",
        "glob": "`glob.glob(os.path.join(root, c, '*.ext'))` per class -> `is_valid_file` with glob's case and hidden-name rules",
        "pathlib": "pathlib `iterdir()` / `glob()` per class -> `DatasetFolder`, the loader given `Path(path)`",
        "walk": "`sorted(os.walk(class_folder))` with sorted files -> `DatasetFolder`/`ImageFolder` (recursive like torchvision)",
        "image": "a `PIL.Image.open(path).convert('RGB')` loader -> `ImageFolder`",
        "declined": "natural or no sort, `int(name)` labels, two-level labels, storage backends, eager loading: report only",
    }
    EXAMPLES = _EXAMPLES
    VALID = _VALID

    def __init__(self, context) -> None:
        super().__init__(context)
        self._facts: ModuleFacts | None = None

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not is_dataset_class(node, self.names):
            return
        if self._facts is None:
            self._facts = module_facts(self.context.module, self.names)
        imports: list[ImportRequest] = []

        def reference(qualified: str) -> cst.BaseExpression:
            ref = self._reference(qualified)
            if ref is None:
                raise Decline(f"no free name to spell {qualified}")
            imports.extend(i for i in ref.imports if i not in imports)
            return ref.expr

        result = analyze(node, self.names, self._facts, reference)
        if result is None:
            return
        if isinstance(result, str):
            message = f"Hand-written folder dataset: torchvision's DatasetFolder does this; no fix: {result}."
            self.report(node.name, message)
            return
        base_name = "torchvision.datasets.ImageFolder" if result.image else "torchvision.datasets.DatasetFolder"
        base = self._reference(base_name)
        if base is None:
            return
        imports.extend(i for i in base.imports if i not in imports)
        replacement = self._write(node, result, base.expr)
        # a reference the filter simplified away (os.path.basename) must not leave an unused import
        used = {n.value for n in m.findall(replacement, m.Name())}
        imports = [i for i in imports if i.bound_name in used]
        short = base_name.rsplit(".", 1)[1]
        self.report(
            node.name,
            f"Use torchvision's {short} instead of a hand-written folder dataset.",
            Fix(UNSAFE, {node: replacement}, imports=tuple(imports), assumption=result.assumption),
        )

    def _reference(self, qualified: str) -> Reference | None:
        """The file's own spelling; else ``from module import Name`` when that name is free."""
        ref = self.names.reference(qualified)
        if ref is not None and not ref.imports:
            return ref
        module, name = qualified.rsplit(".", 1)
        if self.names.is_free(name):
            return Reference(cst.Name(name), (ImportRequest(module, name=name),))
        return ref

    def _write(self, cls: cst.ClassDef, plan: Plan, base: cst.BaseExpression) -> cst.ClassDef:
        """The thin subclass: same name, docstring and __init__ signature; super().__init__ does the work."""
        config = self.context.module.config_for_parsing
        indent = self.context.module.default_indent
        arguments = [code(plan.root)]
        if plan.loader is not None:
            arguments.append(f"loader={code(plan.loader)}")
        if plan.extensions is not None:
            arguments.append(f"extensions={_extensions(plan.extensions)}")
        if plan.is_valid_file is not None:
            arguments.append(f"is_valid_file=lambda {plan.path_name}: {code(plan.is_valid_file)}")
        if plan.transform is not None:
            arguments.append(f"transform={code(plan.transform)}")
        if plan.target_transform is not None:
            arguments.append(f"target_transform={code(plan.target_transform)}")
        arguments.append("allow_empty=True")
        # continuation lines inside the parentheses are relative to the statement's own indentation
        call = "super().__init__(\n" + "".join(f"{indent}{a},\n" for a in arguments) + ")\n"
        body = [cst.parse_statement(call, config)]
        body += [cst.parse_statement(f"self.{name} = {code(value)}\n", config) for name, value in plan.assignments]
        init = next(s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__")
        new_init = init.with_changes(body=cst.IndentedBlock(body=body))
        members: list[cst.BaseStatement] = [s for s in cls.body.body[:1] if is_docstring(s)]
        if not members:
            new_init = new_init.with_changes(leading_lines=[])
        return cls.with_changes(
            bases=[cst.Arg(base)],
            lpar=cls.lpar if cls.lpar else cst.LeftParen(),
            rpar=cls.rpar if cls.rpar else cst.RightParen(),
            body=cls.body.with_changes(body=[*members, new_init]),
        )


def _extensions(node: cst.BaseExpression) -> str:
    """The original's suffixes as torchvision's ``extensions``: a name or a tuple (a bare string gets its comma)."""
    return f"({code(node)},)" if isinstance(node, cst.SimpleString) else code(node)

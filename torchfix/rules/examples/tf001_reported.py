"""TF001's report-only examples: datasets whose layout or loading torchvision does not reproduce."""

from __future__ import annotations

from torchfix.rule import Example

REPORTED = (
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
        message='the class folders are sorted with a key (natural sort?) or r',
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
        message='the class folders are listed in file-system order; torchvisi',
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
        message='labels are parsed from the folder names (int(name)); torchvi',
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
        message='the files sit two folders below the root (root/<group>/<clas',
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
        message='the folders are listed through a storage backend',
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
        message='samples are loaded eagerly in __init__; DatasetFolder loads',
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
        message='one glob over root/*/<files> sorted by full path orders clas',
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
        message='os.walk yields folders in file-system order; torchvision sor',
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
        message='hidden class folders are skipped; torchvision lists them as',
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
        message='plain files at the root become empty classes; torchvision li',
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
        message='the class defines class_counts, which a thin subclass would',
    ),
    # the class folders are listed in file-system order; no identifier says "class", but the
    # sample pairs each file with its folder's position in the listing.
    Example(
        '''\
import os

from PIL import Image
from torch.utils.data import Dataset


class Shots(Dataset):
    def __init__(self, root):
        self.items = []
        for idx, folder in enumerate(os.listdir(root)):
            for name in os.listdir(os.path.join(root, folder)):
                self.items.append((os.path.join(root, folder, name), idx))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, y = self.items[i]
        return Image.open(path).convert("RGB"), y
''',
        None,
        row="declined",
        message="the class folders are listed in file-system order",
    ),
    # the module binds every name the fix could spell torchvision's ImageFolder with.
    Example(
        '''\
import os

from PIL import Image
from torch.utils.data import Dataset

DatasetFolder = ImageFolder = torchvision = None


class Clean(Dataset):
    def __init__(self, root, transform=None):
        self.transform = transform
        self.classes = sorted(os.listdir(root))
        self.samples = []
        for i, c in enumerate(self.classes):
            for f in sorted(os.listdir(os.path.join(root, c))):
                self.samples.append((os.path.join(root, c, f), i))

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
        message="no free name to spell torchvision.datasets.ImageFolder in this file",
    ),
)

"""PyTorch's serialisation (`torch.save` of a state_dict), read without torch.

Both formats: the zip archive (torch >= 1.6) and the legacy one (a pickle, then the
storages' raw bytes). A restricted unpickler resolves only OrderedDict, the tensor
rebuild functions and the storage types; anything else in the pickle is refused, so a
hostile file cannot run code. `read_torch(bytes)` returns nested dicts of numpy arrays.
Used by scripts/seed_models.py (MTCNN) and scripts/liveness_models.py (MiniFASNet).
"""
import collections
import io
import pickle
import struct
import zipfile

import numpy as np


_DTYPES = {  # storage class name -> numpy dtype
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
    "BFloat16Storage": None, "LongStorage": "<i8", "IntStorage": "<i4",
    "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


class _StorageType:
    def __init__(self, name):
        if name not in _DTYPES or _DTYPES[name] is None:
            raise pickle.UnpicklingError(f"unsupported storage type torch.{name}")
        self.name = name
        self.dtype = np.dtype(_DTYPES[name])


class _Storage:
    """A storage whose bytes may arrive after the pickle (legacy format)."""

    def __init__(self, stype, numel):
        self.dtype = stype.dtype
        self.numel = numel
        self.array = None  # set once read
        self.view_of = None  # (root storage, element offset) for legacy views


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def numpy(self):
        st, off = self.storage, self.offset
        while st.view_of is not None:
            st, extra = st.view_of
            off += extra
        base = st.array
        if base is None:
            raise ValueError("storage data never read")
        if not self.size:
            return base[off].copy()
        item = base.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[off:], shape=self.size, strides=[s * item for s in self.stride])
        return np.array(view, copy=True)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return data


class _Unpickler(pickle.Unpickler):
    """Resolves only what a state_dict needs; anything else is refused."""

    ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    }

    def __init__(self, f, storages, loader):
        super().__init__(f)
        self.storages = storages  # key -> _Storage
        self.loader = loader  # zip: key -> bytes; legacy: None (data follows)

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        kind = pid[0].decode() if isinstance(pid[0], bytes) else pid[0]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unsupported persistent id kind {kind!r}")
        if self.loader is not None:  # zip: ('storage', type, key, location, numel)
            stype, key, _location, numel = pid[1:5]
            key = str(key)
            if key not in self.storages:
                st = _Storage(stype, numel)
                st.array = np.frombuffer(self.loader(key), dtype=stype.dtype)[:numel]
                self.storages[key] = st
            return self.storages[key]
        # legacy: ('storage', type, root_key, location, numel, view_metadata)
        stype, root_key, _location, numel, view_metadata = pid[1:6]
        root_key = str(root_key)
        if root_key not in self.storages:
            self.storages[root_key] = _Storage(stype, numel)
        root = self.storages[root_key]
        if view_metadata is None:
            return root
        view_key, offset, view_size = view_metadata
        view = _Storage(stype, view_size)
        view.view_of = (root, offset)
        self.storages.setdefault("view:" + str(view_key), view)
        return view


LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _materialize(obj):
    if isinstance(obj, _Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return collections.OrderedDict((k, _materialize(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v) for v in obj)
    return obj


def read_torch(data):
    """A torch.save'd object (state_dict) as nested dicts of numpy arrays."""
    storages = {}
    if data[:4] == b"PK\x03\x04":
        z = zipfile.ZipFile(io.BytesIO(data))
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise ValueError("no single data.pkl in the archive")
        prefix = pkl[0][: -len("data.pkl")]
        order = prefix + "byteorder"
        if order in z.namelist() and z.read(order).strip() != b"little":
            raise ValueError("big-endian torch archive")
        u = _Unpickler(io.BytesIO(z.read(pkl[0])), storages,
                       lambda key: z.read(f"{prefix}data/{key}"))
        return _materialize(u.load())
    f = io.BytesIO(data)
    magic = pickle.load(f)
    if magic != LEGACY_MAGIC:
        raise ValueError("neither a zip nor a legacy torch file")
    protocol = pickle.load(f)
    if protocol != 1001:
        raise ValueError(f"legacy protocol {protocol}, expected 1001")
    sys_info = pickle.load(f)
    if not sys_info.get("little_endian", True):
        raise ValueError("big-endian legacy torch file")
    u = _Unpickler(f, storages, None)
    result = u.load()
    keys = pickle.load(f)
    for key in keys:
        st = storages[str(key)]
        (numel,) = struct.unpack("<q", f.read(8))
        if numel != st.numel:
            raise ValueError(f"storage {key}: {numel} elements, pickle said {st.numel}")
        n = numel * st.dtype.itemsize
        buf = f.read(n)
        if len(buf) != n:
            raise ValueError(f"storage {key} truncated")
        st.array = np.frombuffer(buf, dtype=st.dtype)
    if f.read(1):
        raise ValueError("trailing bytes after the last storage")
    return _materialize(result)

"""Tests of the data package: every source on data the tests make, caching, the 'auto' rule,
the TFDS path (real TFDS builder and reader code on a tiny test-made cifar10) and its fast offline
failure, and (when present) the shared full CIFAR-10 copy."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import pickle
import subprocess
import sys
import time
import types
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from PIL import Image

import data
from common.registry import UnknownNameError
from data import image_folder, npz_cache, tfds_source
from data.constants import CIFAR10_CLASSES

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CIFAR10_JPEG = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg"
NON_CIFAR_CLASSES = ("zebra", "apple", "mango")


# ----------------------------------------------------------------------------- helpers


def class_colour(name: str) -> tuple[int, int, int]:
  """A flat colour identifying a class name (independent of any label order)."""
  index = sorted(CIFAR10_CLASSES + NON_CIFAR_CLASSES).index(name)
  return (10 + 18 * index, 200 - 9 * index, 77)


def write_image(path: Path, pixels: np.ndarray, mode: str | None = None) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(pixels, mode).save(path)


def make_tree(root: Path, class_names, counts=None, extensions=(".png", ".jpg", ".jpeg")) -> Path:
  """DIR/{train,test}/<class>/NNNN.<ext>, flat class colours, extensions cycling per file."""
  counts = counts or {"train": 3, "test": 2}
  for split, count in counts.items():
    for name in class_names:
      for index in range(count):
        pixels = np.full((32, 32, 3), class_colour(name), np.uint8)
        write_image(root / split / name / f"{index:04d}{extensions[index % len(extensions)]}",
                    pixels)
  return root


def folder_config(root: Path, cache_dir: Path, **overrides):
  return dict(source="folder", dir=str(root), cache_dir=str(cache_dir), **overrides)


def assert_colours_match_labels(images, labels, class_names, tolerance):
  for image, label in zip(images, labels):
    expected = np.array(class_colour(class_names[label]), np.int32)
    assert np.abs(image.astype(np.int32) - expected).max() <= tolerance


def write_batch(path: Path, images: np.ndarray, labels) -> None:
  """A cifar-10-batches-py style pickle: b'data' (N, 3072) channel-planar, b'labels'."""
  planar = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
  with open(path, "wb") as file:
    pickle.dump({b"batch_label": b"test", b"data": planar, b"labels": list(labels)}, file,
                protocol=2)


def make_python_batches(root: Path, per_batch=4, test_count=5, seed=0):
  """Returns (train_images, train_labels, test_images, test_labels) written under root."""
  rng = np.random.default_rng(seed)
  root.mkdir(parents=True, exist_ok=True)
  splits = {}
  for names, count in ((data.cifar_python.TRAIN_BATCHES, per_batch),
                       (data.cifar_python.TEST_BATCHES, test_count)):
    all_images, all_labels = [], []
    for name in names:
      images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
      labels = rng.integers(0, 10, count)
      write_batch(root / name, images, labels)
      all_images.append(images)
      all_labels.append(labels)
    splits[names[0]] = (np.concatenate(all_images), np.concatenate(all_labels))
  with open(root / "batches.meta", "wb") as file:
    pickle.dump({b"label_names": [name.encode() for name in CIFAR10_CLASSES]}, file, protocol=2)
  (train_images, train_labels), (test_images, test_labels) = splits.values()
  return train_images, train_labels, test_images, test_labels


# ----------------------------------------------------------------------------- package


@pytest.mark.slow
def test_import_has_no_heavy_side_effects():
  code = ("import sys, data; heavy = [m for m in ('tensorflow', 'tensorflow_datasets', 'jax') "
          "if m in sys.modules]; assert not heavy, heavy")
  subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def test_registry_and_config():
  assert data.SOURCES.names() == ["auto", "cifar_python", "folder", "synthetic", "tfds"]
  config = data.default_data_config()
  assert config.source == "auto" and config.dir == "" and config.train_subset == 0
  with pytest.raises(UnknownNameError, match="folder"):
    data.load_cifar10(dict(source="fodler"))
  with pytest.raises(ValueError, match="trian_subset"):
    data.load_cifar10(dict(source="synthetic", trian_subset=3))


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_and_learnable_looking():
  config = dict(source="synthetic", synthetic_train_size=200, synthetic_test_size=50)
  first, second = data.load_cifar10(config), data.load_cifar10(config)
  other_seed = data.load_cifar10(dict(config, synthetic_seed=1))
  assert first.train_images.shape == (200, 32, 32, 3) and first.train_images.dtype == np.uint8
  assert first.test_images.shape == (50, 32, 32, 3) and first.test_labels.dtype == np.int32
  assert first.class_names == CIFAR10_CLASSES
  np.testing.assert_array_equal(first.train_images, second.train_images)
  np.testing.assert_array_equal(first.test_labels, second.test_labels)
  assert not np.array_equal(first.train_images, other_seed.train_images)
  assert np.bincount(first.train_labels, minlength=10).tolist() == [20] * 10
  # Learnable: per-class mean colours are far apart compared with the spread within a class,
  # and a nearest-class-mean classifier fit on train does well on test.
  def mean_colours(images):
    return images.reshape(len(images), -1, 3).mean(axis=1)
  means = np.stack([mean_colours(first.train_images[first.train_labels == c]).mean(0)
                    for c in range(10)])
  distances = np.linalg.norm(means[:, None] - means[None], axis=-1)
  assert distances[~np.eye(10, dtype=bool)].min() > 10.0
  test_colours = mean_colours(first.test_images)
  predictions = np.linalg.norm(test_colours[:, None] - means[None], axis=-1).argmin(1)
  assert (predictions == first.test_labels).mean() > 0.9


def test_subsets_keep_the_first_examples():
  config = dict(source="synthetic", synthetic_train_size=40, synthetic_test_size=20)
  full = data.load_cifar10(config)
  cut = data.load_cifar10(dict(config, train_subset=7, test_subset=3))
  np.testing.assert_array_equal(cut.train_images, full.train_images[:7])
  np.testing.assert_array_equal(cut.test_labels, full.test_labels[:3])
  with pytest.raises(data.DataError, match="train_subset=41"):
    data.load_cifar10(dict(config, train_subset=41))


# ----------------------------------------------------------------------------- folder


def test_folder_cifar_names_follow_cifar_order(tmp_path):
  root = make_tree(tmp_path / "tree", CIFAR10_CLASSES[::-1])
  arrays = data.load_cifar10(folder_config(root, tmp_path / "cache"))
  assert arrays.class_names == CIFAR10_CLASSES
  assert arrays.train_images.shape == (30, 32, 32, 3) and arrays.train_images.dtype == np.uint8
  assert arrays.train_labels.dtype == np.int32 and arrays.test_images.shape == (20, 32, 32, 3)
  # Class-interleaved order: every prefix of 10 holds each class once.
  assert arrays.train_labels.tolist() == list(range(10)) * 3
  assert arrays.test_labels.tolist() == list(range(10)) * 2
  # PNG is lossless (exact colours); JPEG of a flat colour is within a few levels.
  png = np.array([name.endswith(".png") for name in sorted(os.listdir(root / "train" / "cat"))])
  assert png.tolist() == [True, False, False]
  assert_colours_match_labels(arrays.train_images[:10], arrays.train_labels[:10],
                              arrays.class_names, tolerance=0)
  assert_colours_match_labels(arrays.train_images, arrays.train_labels, arrays.class_names,
                              tolerance=3)


def test_folder_other_names_are_sorted(tmp_path):
  root = make_tree(tmp_path / "tree", NON_CIFAR_CLASSES, counts={"train": 2, "test": 1})
  arrays = data.load_cifar10(folder_config(root, tmp_path / "cache"))
  assert arrays.class_names == ("apple", "mango", "zebra")
  assert_colours_match_labels(arrays.train_images, arrays.train_labels, arrays.class_names, 3)
  assert_colours_match_labels(arrays.test_images, arrays.test_labels, arrays.class_names, 3)


@pytest.mark.parametrize("bad_image", ["corrupt", "truncated", "wrong_size", "grayscale", "rgba"])
def test_folder_bad_image_names_the_file(tmp_path, bad_image):
  root = make_tree(tmp_path / "tree", NON_CIFAR_CLASSES, counts={"train": 2, "test": 1})
  bad_path = root / "train" / "mango" / f"bad_{bad_image}.png"
  if bad_image == "corrupt":
    bad_path.write_bytes(b"this is not an image")
  elif bad_image == "truncated":
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8) + 99).save(buffer, format="JPEG")
    bad_path = bad_path.with_suffix(".jpg")
    bad_path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
  elif bad_image == "wrong_size":
    write_image(bad_path, np.zeros((28, 32, 3), np.uint8))
  elif bad_image == "grayscale":
    write_image(bad_path, np.zeros((32, 32), np.uint8))
  else:
    write_image(bad_path, np.zeros((32, 32, 4), np.uint8))
  with pytest.raises(data.DataError, match=str(bad_path)):
    data.load_cifar10(folder_config(root, tmp_path / "cache"))


def test_folder_missing_split_empty_class_and_mismatched_classes(tmp_path):
  root = make_tree(tmp_path / "tree", NON_CIFAR_CLASSES, counts={"train": 1})
  with pytest.raises(data.DataError, match=str(root / "test")):
    data.load_cifar10(folder_config(root, tmp_path / "cache"))
  make_tree(root, NON_CIFAR_CLASSES[1:], counts={"test": 1})
  with pytest.raises(data.DataError, match="differ"):
    data.load_cifar10(folder_config(root, tmp_path / "cache"))
  (root / "test" / "zebra").mkdir()
  (root / "test" / "zebra" / "notes.txt").write_text("no images here")
  with pytest.raises(data.DataError, match=str(root / "test" / "zebra")):
    data.load_cifar10(folder_config(root, tmp_path / "cache"))
  with pytest.raises(data.DataError, match=str(tmp_path / "missing")):
    data.load_cifar10(folder_config(tmp_path / "missing", tmp_path / "cache"))


def test_folder_cache_is_written_reused_and_rebuilt(tmp_path, monkeypatch):
  root = make_tree(tmp_path / "tree", NON_CIFAR_CLASSES, counts={"train": 2, "test": 1})
  cache_dir = tmp_path / "cache"
  config = folder_config(root, cache_dir)
  decode_calls = []
  real_decode = image_folder.decode_image_tree

  def counting_decode(tree):
    decode_calls.append(tree.root)
    return real_decode(tree)

  monkeypatch.setattr(image_folder, "decode_image_tree", counting_decode)
  first = data.load_cifar10(config)
  cache_files = list(cache_dir.glob("*.npz"))
  assert len(decode_calls) == 1 and len(cache_files) == 1
  assert not list(cache_dir.glob("*.tmp"))  # the temporary file was renamed away
  cache_file = cache_files[0]
  assert cache_file == npz_cache.cache_path(cache_dir, root, "folder")
  # Reused: no decoding, same arrays.
  again = data.load_cifar10(config)
  assert len(decode_calls) == 1
  np.testing.assert_array_equal(again.train_images, first.train_images)
  np.testing.assert_array_equal(again.test_labels, first.test_labels)
  assert again.class_names == first.class_names
  # A source file newer than the cache: rebuilt.
  changed = root / "train" / "apple" / "0000.png"
  write_image(changed, np.full((32, 32, 3), 3, np.uint8))
  past = changed.stat().st_mtime - 100
  os.utime(cache_file, (past, past))
  rebuilt = data.load_cifar10(config)
  assert len(decode_calls) == 2
  assert (rebuilt.train_images == 3).all(axis=(1, 2, 3)).sum() == 1
  # A file replaced by an older one (nothing newer than the cache, same count): rebuilt.
  (root / "test" / "zebra" / "0000.png").unlink()
  make_tree(root, ("zebra",), counts={"test": 1}, extensions=(".jpg",))
  os.utime(root / "test" / "zebra" / "0000.jpg", (1, 1))
  os.utime(root / "test" / "zebra", (1, 1))
  os.utime(root / "test", (1, 1))
  data.load_cifar10(config)
  assert len(decode_calls) == 3
  # A corrupt cache is rebuilt, not fatal.
  cache_file.write_bytes(b"PK\x03\x04 garbage")
  recovered = data.load_cifar10(config)
  assert len(decode_calls) == 4
  np.testing.assert_array_equal(recovered.train_labels, rebuilt.train_labels)
  data.load_cifar10(config)
  assert len(decode_calls) == 4  # and the rebuilt cache is good again


def test_folder_unwritable_cache_is_not_fatal(tmp_path):
  root = make_tree(tmp_path / "tree", NON_CIFAR_CLASSES, counts={"train": 1, "test": 1})
  blocker = tmp_path / "not_a_dir"
  blocker.write_text("a file where the cache dir should be")
  arrays = data.load_cifar10(folder_config(root, blocker / "cache"))
  assert arrays.train_images.shape == (3, 32, 32, 3)


# ----------------------------------------------------------------------------- cifar_python


def test_cifar_python_layout_and_order(tmp_path):
  train_images, train_labels, test_images, test_labels = make_python_batches(tmp_path / "py")
  arrays = data.load_cifar10(dict(source="cifar_python", dir=str(tmp_path / "py")))
  np.testing.assert_array_equal(arrays.train_images, train_images)
  np.testing.assert_array_equal(arrays.train_labels, train_labels)
  np.testing.assert_array_equal(arrays.test_images, test_images)
  np.testing.assert_array_equal(arrays.test_labels, test_labels)
  assert arrays.train_labels.dtype == np.int32 and arrays.class_names == CIFAR10_CLASSES
  # Raw row layout: 1024 red values, then green, then blue, each row-major.
  with open(tmp_path / "py" / "data_batch_1", "rb") as file:
    raw = pickle.load(file, encoding="bytes")[b"data"][0]
  assert tuple(arrays.train_images[0, 0, 1]) == (raw[1], raw[1025], raw[2049])
  assert tuple(arrays.train_images[0, 1, 0]) == (raw[32], raw[32 + 1024], raw[32 + 2048])
  # The parent of cifar-10-batches-py is accepted too.
  make_python_batches(tmp_path / "parent" / "cifar-10-batches-py")
  nested = data.load_cifar10(dict(source="cifar_python", dir=str(tmp_path / "parent")))
  np.testing.assert_array_equal(nested.test_labels, test_labels)


def test_cifar_python_errors_name_the_file(tmp_path):
  root = tmp_path / "py"
  make_python_batches(root)
  write_batch(root / "data_batch_3", np.zeros((2, 32, 32, 3), np.uint8), [3, 10])
  with pytest.raises(data.DataError, match=f"{root / 'data_batch_3'}.*labels span"):
    data.load_cifar10(dict(source="cifar_python", dir=str(root)))
  make_python_batches(root)
  (root / "test_batch").unlink()
  with pytest.raises(data.DataError, match=str(root / "test_batch")):
    data.load_cifar10(dict(source="cifar_python", dir=str(root)))
  make_python_batches(root)
  (root / "data_batch_2").write_bytes(b"\x80\x02 truncated")
  with pytest.raises(data.DataError, match=str(root / "data_batch_2")):
    data.load_cifar10(dict(source="cifar_python", dir=str(root)))
  # A pickle that would run code is refused, not executed.
  (root / "data_batch_2").write_bytes(pickle.dumps(types.SimpleNamespace(x=1)))
  with pytest.raises(data.DataError, match="refusing"):
    data.load_cifar10(dict(source="cifar_python", dir=str(root)))


# ----------------------------------------------------------------------------- auto


def test_auto_uses_explicit_dir_then_env_and_detects_the_layout(tmp_path, monkeypatch):
  tree = make_tree(tmp_path / "tree", NON_CIFAR_CLASSES, counts={"train": 1, "test": 1})
  make_python_batches(tmp_path / "py")
  monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "py"))
  cache = str(tmp_path / "cache")
  from_dir = data.load_cifar10(dict(source="auto", dir=str(tree), cache_dir=cache))
  assert from_dir.class_names == ("apple", "mango", "zebra")  # dir wins over the environment
  from_env = data.load_cifar10(dict(source="auto", cache_dir=cache))
  assert from_env.class_names == CIFAR10_CLASSES and len(from_env.train_labels) == 20
  monkeypatch.setenv("CIFAR10_DIR", str(tree))
  assert data.load_cifar10(dict(cache_dir=cache)).class_names == ("apple", "mango", "zebra")
  (tmp_path / "neither").mkdir()
  monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "neither"))
  with pytest.raises(data.DataError, match=f"{tmp_path / 'neither'} holds neither"):
    data.load_cifar10(dict(cache_dir=cache))
  with pytest.raises(data.DataError, match=str(tmp_path / "nowhere")):
    data.load_cifar10(dict(dir=str(tmp_path / "nowhere")))


def test_auto_falls_back_to_tfds(tmp_path, monkeypatch):
  monkeypatch.delenv("CIFAR10_DIR", raising=False)
  probed = []
  monkeypatch.setattr(tfds_source, "download_hosts_reachable",
                      lambda timeout_s: probed.append(timeout_s) or False)
  with pytest.raises(data.DataError, match="CIFAR10_DIR"):
    data.load_cifar10(dict(tfds_data_dir=str(tmp_path / "tfds")))
  assert probed == [3.0]


# ----------------------------------------------------------------------------- tfds


def test_tfds_offline_fails_fast_with_a_hint(tmp_path, monkeypatch):
  monkeypatch.setattr(tfds_source, "download_hosts_reachable", lambda timeout_s: False)
  start = time.monotonic()
  with pytest.raises(data.DataError) as error:
    data.load_cifar10(dict(source="tfds", tfds_data_dir=str(tmp_path / "tfds")))
  assert time.monotonic() - start < 10.0
  message = str(error.value)
  assert "config.data.dir=" in message and "CIFAR10_DIR=" in message
  assert str(tmp_path / "tfds") in message


def test_download_probe_is_bounded_even_when_connecting_hangs(monkeypatch):
  def hanging_connection(address, timeout=None):
    time.sleep(5.0)
    raise OSError("unreachable")
  monkeypatch.setattr(tfds_source.socket, "create_connection", hanging_connection)
  start = time.monotonic()
  assert not tfds_source.download_hosts_reachable(0.3)
  assert time.monotonic() - start < 2.0


def test_tfds_really_fails_fast_here_when_offline(tmp_path):
  """The real probe, unpatched. Online machines would start a real download, so they skip."""
  if tfds_source.download_hosts_reachable(3.0):
    pytest.skip("the download hosts are reachable: this machine is online")
  start = time.monotonic()
  with pytest.raises(data.DataError, match="offline"):
    data.load_cifar10(dict(source="tfds", tfds_data_dir=str(tmp_path / "tfds")))
  assert time.monotonic() - start < 15.0


@pytest.fixture(scope="module")
def prepared_tfds_dir(tmp_path_factory):
  """A tiny cifar10 prepared by TFDS's real Cifar10 builder (array_record) from test-made files.

  The download is replaced by a local cifar-10-batches-bin tree. Without TensorFlow, the two
  places preparation uses it are bridged: tf.io.gfile.GFile (local files: open) and PNG encoding
  of numpy images (done with Pillow). Reading needs neither. Returns (data_dir, raw examples).
  """
  tfds = pytest.importorskip("tensorflow_datasets")
  from tensorflow_datasets.core.features import image_feature
  from tensorflow_datasets.image_classification import cifar

  root = tmp_path_factory.mktemp("tfds")
  raw_dir = root / "extracted" / "cifar-10-batches-bin"
  raw_dir.mkdir(parents=True)
  rng = np.random.default_rng(0)
  raw = {}
  for split, names, count in (("train", [f"data_batch_{i}.bin" for i in range(1, 6)], 3),
                              ("test", ["test_batch.bin"], 4)):
    examples = []
    for name in names:
      labels = rng.integers(0, 10, count, dtype=np.uint8)
      images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
      planar = images.transpose(0, 3, 1, 2).reshape(count, -1)
      records = np.concatenate([labels[:, None], planar], axis=1)
      (raw_dir / name).write_bytes(records.tobytes())
      examples += list(zip(images, labels))
    raw[split] = examples
  (raw_dir / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASSES) + "\n")

  def png_with_pillow(self, pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()

  patches = [mock.patch.object(tfds.download.DownloadManager, "download_and_extract",
                               return_value=str(root / "extracted"))]
  if not tfds_source.tensorflow_available():
    gfile = types.SimpleNamespace(io=types.SimpleNamespace(gfile=types.SimpleNamespace(GFile=open)))
    patches += [mock.patch.object(cifar, "tf", gfile),
                mock.patch.object(image_feature._ImageEncoder, "_encode_image", png_with_pillow)]
  data_dir = root / "data_dir"
  builder = tfds.builder("cifar10", data_dir=str(data_dir), file_format="array_record")
  with contextlib.ExitStack() as stack:
    for patch in patches:
      stack.enter_context(patch)
    builder.download_and_prepare()
  return data_dir, raw


def test_tfds_reads_a_prepared_dataset_with_the_real_reader(prepared_tfds_dir, monkeypatch):
  data_dir, raw = prepared_tfds_dir
  monkeypatch.setattr(tfds_source, "download_hosts_reachable",
                      lambda timeout_s: pytest.fail("a prepared dataset must not be downloaded"))
  arrays = data.load_cifar10(dict(source="tfds", tfds_data_dir=str(data_dir)))
  assert arrays.class_names == CIFAR10_CLASSES
  for split in ("train", "test"):
    images, labels = getattr(arrays, f"{split}_images"), getattr(arrays, f"{split}_labels")
    assert images.dtype == np.uint8 and labels.dtype == np.int32
    # TFDS shuffles the order when preparing; the (image, label) pairs are the same.
    expected = sorted((image.tobytes(), int(label)) for image, label in raw[split])
    assert sorted((image.tobytes(), int(label)) for image, label in zip(images, labels)) == expected


def test_auto_reaches_tfds_data(prepared_tfds_dir, monkeypatch):
  data_dir, raw = prepared_tfds_dir
  monkeypatch.delenv("CIFAR10_DIR", raising=False)
  arrays = data.load_cifar10(dict(tfds_data_dir=str(data_dir), train_subset=4))
  assert arrays.train_images.shape == (4, 32, 32, 3)
  assert len(arrays.test_labels) == len(raw["test"])


@pytest.mark.skipif(tfds_source.tensorflow_available(), reason="TensorFlow would read tfrecord")
def test_tfds_tfrecord_only_without_tensorflow_says_what_to_do(prepared_tfds_dir, tmp_path):
  data_dir, _ = prepared_tfds_dir
  copy = tmp_path / "data_dir"
  shutil.copytree(data_dir, copy)
  info_path = next(copy.glob("cifar10/*/dataset_info.json"))
  info = json.loads(info_path.read_text())
  info["fileFormat"] = "tfrecord"
  info_path.write_text(json.dumps(info))
  with pytest.raises(data.DataError, match="tfrecord.*needs TensorFlow"):
    data.load_cifar10(dict(source="tfds", tfds_data_dir=str(copy)))


# ----------------------------------------------------------------------------- shared copy


@pytest.mark.slow
def test_shared_cifar10_jpeg_copy_loads_in_full(tmp_path, monkeypatch):
  """The one full decode in the suite (~20 s), then one cached load."""
  if not SHARED_CIFAR10_JPEG.is_dir():
    pytest.skip(f"{SHARED_CIFAR10_JPEG} is absent")
  config = dict(source="auto", dir=str(SHARED_CIFAR10_JPEG), cache_dir=str(tmp_path / "cache"))
  arrays = data.load_cifar10(config)
  assert arrays.class_names == CIFAR10_CLASSES
  assert arrays.train_images.shape == (50_000, 32, 32, 3) and arrays.train_images.dtype == np.uint8
  assert arrays.test_images.shape == (10_000, 32, 32, 3) and arrays.test_images.dtype == np.uint8
  assert arrays.train_labels.dtype == np.int32 and arrays.test_labels.dtype == np.int32
  assert np.bincount(arrays.train_labels).tolist() == [5_000] * 10
  assert np.bincount(arrays.test_labels).tolist() == [1_000] * 10
  # Real photos: the pixel statistics are near CIFAR-10's published ones.
  # (Stride 7, coprime to the 10 interleaved classes, so the sample covers every class.)
  sample = arrays.train_images[::7].reshape(-1, 3).astype(np.float64)
  np.testing.assert_allclose(sample.mean(0), data.constants.CIFAR10_MEAN, atol=1.5)
  np.testing.assert_allclose(sample.std(0), data.constants.CIFAR10_STD, atol=1.5)
  monkeypatch.setattr(image_folder, "decode_image_tree",
                      lambda tree: pytest.fail("the cache should have been used"))
  start = time.monotonic()
  cached = data.load_cifar10(config)
  assert time.monotonic() - start < 10.0
  np.testing.assert_array_equal(cached.test_images, arrays.test_images)

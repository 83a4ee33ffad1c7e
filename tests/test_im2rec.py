"""python -m flowmod.tools.im2rec: lists and records as MXNet's tools/im2rec.py makes them."""
import os
import random

import cv2
import numpy as np
import pytest

import flowmod as mx
from flowmod.tools import im2rec


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "imgs"
    rng = np.random.RandomState(0)
    for d in ("cat", "dog"):
        (root / d).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(root / d / f"{i}.png"),
                        rng.randint(0, 256, (10 + i, 14, 3)).astype(np.uint8))
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


def lines(path):
    return open(path).read().splitlines()


def test_recursive_list_labels_each_folder_and_shuffles_with_seed_100(images, tmp_path):
    im2rec.main(["--list", "--recursive", str(tmp_path / "data"), str(images)])
    expect = [(i, f"{d}/{j}.png", k) for i, (k, d, j) in enumerate(
        (k, d, j) for k, d in enumerate(("cat", "dog")) for j in range(3))]
    random.seed(100)
    random.shuffle(expect)
    assert lines(tmp_path / "data.lst") == [f"{i}\t{k:f}\t{p}" for i, p, k in expect]


def test_train_and_test_ratios_split_the_list(images, tmp_path):
    im2rec.main(["--list", "--recursive", "--train-ratio", "0.5", "--test-ratio", "0.2",
                 "--no-shuffle", str(tmp_path / "data"), str(images)])
    # int(6 * 0.2) = 1 test image, then int(6 * 0.5) = 3 for training, the rest validation.
    assert [len(lines(tmp_path / f"data_{s}.lst")) for s in ("test", "train", "val")] == [1, 3,
                                                                                          2]
    assert lines(tmp_path / "data_test.lst")[0].endswith("cat/0.png")


def test_packing_resizes_and_encodes_as_pack_img(images, tmp_path, capsys):
    prefix = str(tmp_path / "data")
    im2rec.main(["--list", "--recursive", "--no-shuffle", prefix, str(images)])
    assert im2rec.main(["--resize", "8", "--quality", "90", "--num-thread", "2", prefix,
                        str(images)]) == 0
    rec = mx.recordio.MXIndexedRecordIO(prefix + ".idx", prefix + ".rec", "r")
    assert rec.keys == list(range(6))
    img = cv2.imread(str(images / "dog" / "1.png"))
    small = cv2.resize(img, (14 * 8 // 11, 8))
    assert rec.read_idx(4) == mx.recordio.pack_img((0, 1.0, 4, 0), small, quality=90)
    assert "6/6" in capsys.readouterr().err


def test_pack_label_stores_every_label_of_a_line(images, tmp_path):
    (tmp_path / "m.lst").write_text("7\t1.5\t2.5\tcat/0.png\n")
    im2rec.main(["--pack-label", "--encoding", ".png", str(tmp_path / "m"), str(images)])
    rec = mx.recordio.MXRecordIO(str(tmp_path / "m.rec"), "r")
    header, img = mx.recordio.unpack_img(rec.read())
    assert header.id == 7 and header.label.tolist() == [1.5, 2.5]
    np.testing.assert_array_equal(img, cv2.imread(str(images / "cat" / "0.png")))


def test_pass_through_stores_the_file_bytes(images, tmp_path):
    (tmp_path / "p.lst").write_text("0\t1\tdog/2.png\n")
    im2rec.main(["--pass-through", str(tmp_path / "p"), str(images)])
    header, payload = mx.recordio.unpack(
        mx.recordio.MXRecordIO(str(tmp_path / "p.rec"), "r").read())
    assert payload == (images / "dog" / "2.png").read_bytes() and header.label == 1


def test_unreadable_image_is_reported_and_left_out(images, tmp_path, capsys):
    (tmp_path / "b.lst").write_text("0\t0\tcat/0.png\n1\t0\tcat/notes.txt\n2\t1\tdog/0.png\n")
    im2rec.main([str(tmp_path / "b"), str(images)])
    rec = mx.recordio.MXIndexedRecordIO(str(tmp_path / "b.idx"), str(tmp_path / "b.rec"), "r")
    assert rec.keys == [0, 2]
    assert "notes.txt" in capsys.readouterr().err


def test_missing_list_file_is_an_error(tmp_path, capsys):
    assert im2rec.main([str(tmp_path / "none"), str(tmp_path)]) == 1
    assert "Did not find" in capsys.readouterr().err

"""Writes the MXNet 1.9.1 RecordIO files and decoded images that tests/test_recordio.py,
tests/test_image.py and tests/test_image_record_iter.py compare flowmod with:

- plain.rec: records of every length class and with the magic number inside (aligned,
  unaligned, at the start, at the end, twice in a row), written by mx.recordio.MXRecordIO;
- indexed.rec/.idx: five records written by MXIndexedRecordIO.write_idx;
- images.rec/.idx: image records (pack_img JPEG q90, PNG, a multi-label pack), and in
  images_ref.npz the images as MXNet decodes, resizes and crops them, and the batch
  ImageRecordIter gives for them without random augmentation.

    /path/to/mxnet-1.9.1/bin/python tests/data/recordio/make_mxnet_recordio.py tests/data/recordio
"""
import os
import struct
import sys

import numpy as np

MAGIC = struct.pack("<I", 0xCED7230A)


def plain_records():
    rng = np.random.RandomState(7)
    noise = rng.randint(0, 256, 37, dtype=np.uint8).tobytes()
    return [b"", b"a", b"ab", b"abc", b"abcd", b"abcde", MAGIC, MAGIC + b"xy",
            b"abcd" + MAGIC + b"efgh", b"ab" + MAGIC + b"cd", b"abcd" + MAGIC,
            MAGIC + MAGIC, b"abcd" + MAGIC + MAGIC + b"z", noise, noise + MAGIC + noise[:3]]


def test_image(h, w, seed):
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 11) % 256, (y * 13) % 256, ((x + y) * 7) % 256], -1)
    return np.clip(img + rng.randint(-8, 8, img.shape), 0, 255).astype(np.uint8)


def main(out):
    import mxnet as mx

    w = mx.recordio.MXRecordIO(os.path.join(out, "plain.rec"), "w")
    for r in plain_records():
        w.write(r)
    w.close()

    w = mx.recordio.MXIndexedRecordIO(os.path.join(out, "indexed.idx"),
                                      os.path.join(out, "indexed.rec"), "w")
    for i in range(5):
        w.write_idx(i * 10, b"record_%d" % i + MAGIC * (i % 2))
    w.close()

    imgs = [test_image(12, 16, 0), test_image(16, 12, 1), test_image(14, 14, 2)]
    w = mx.recordio.MXIndexedRecordIO(os.path.join(out, "images.idx"),
                                      os.path.join(out, "images.rec"), "w")
    w.write_idx(0, mx.recordio.pack_img(mx.recordio.IRHeader(0, 3.0, 100, 0), imgs[0],
                                        quality=90, img_fmt=".jpg"))
    w.write_idx(1, mx.recordio.pack_img(mx.recordio.IRHeader(0, 1.0, 101, 0), imgs[1],
                                        quality=3, img_fmt=".png"))
    w.write_idx(2, mx.recordio.pack_img(mx.recordio.IRHeader(0, 2.0, 102, 0), imgs[2],
                                        quality=90, img_fmt=".jpg"))
    w.close()
    multi = mx.recordio.pack(mx.recordio.IRHeader(0, [1.5, 2.5, 3.5], 7, 0), b"payload")

    ref = {"multi_label": np.frombuffer(multi, np.uint8)}
    r = mx.recordio.MXIndexedRecordIO(os.path.join(out, "images.idx"),
                                      os.path.join(out, "images.rec"), "r")
    for i in range(3):
        _, payload = mx.recordio.unpack(r.read_idx(i))
        ref[f"unpack_img_{i}"] = mx.recordio.unpack_img(r.read_idx(i))[1]
        rgb = mx.image.imdecode(payload)  # RGB, as mx.image gives it
        ref[f"imdecode_{i}"] = rgb.asnumpy()
        ref[f"imdecode_gray_{i}"] = mx.image.imdecode(payload, flag=0).asnumpy()
        for interp in range(5):
            ref[f"imresize_{i}_{interp}"] = mx.image.imresize(rgb, 9, 7, interp).asnumpy()
        ref[f"resize_short_{i}"] = mx.image.resize_short(rgb, 10).asnumpy()
        ref[f"center_crop_{i}"] = mx.image.center_crop(rgb, (8, 6))[0].asnumpy()
        ref[f"fixed_crop_{i}"] = mx.image.fixed_crop(rgb, 1, 2, 6, 5, (9, 8), 1).asnumpy()
    r.close()

    it = mx.io.ImageRecordIter(path_imgrec=os.path.join(out, "images.rec"),
                               data_shape=(3, 10, 10), batch_size=3, resize=11,
                               mean_r=120, mean_g=110, mean_b=100, std_r=50, std_g=60,
                               std_b=70, scale=0.5, preprocess_threads=1, round_batch=False)
    batch = it.next()
    ref["iter_data"] = batch.data[0].asnumpy()
    ref["iter_label"] = batch.label[0].asnumpy()
    np.savez_compressed(os.path.join(out, "images_ref.npz"), **ref)


if __name__ == "__main__":
    main(sys.argv[1])

"""mx.io.ImageRecordIter: batches, epochs, parts and pixels as MXNet 1.9.1 gives them (the
expected values were produced by MXNet on the same files), augmentation against numpy
references, and corrupt or missing input."""
import os
import warnings

import cv2
import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError

DATA = os.path.join(os.path.dirname(__file__), "data", "recordio")


def ten_image(i):
    img = np.full((12, 14, 3), i * 20, np.uint8)
    img[:, :7, 0] = 255 - i
    return img


@pytest.fixture
def ten(tmp_path):
    """Ten JPEG records labelled 0-9 (ids 0-9), with an index."""
    rec, idx = str(tmp_path / "ten.rec"), str(tmp_path / "ten.idx")
    w = mx.recordio.MXIndexedRecordIO(idx, rec, "w")
    for i in range(10):
        w.write_idx(i, mx.recordio.pack_img(mx.recordio.IRHeader(0, float(i), i, 0),
                                            ten_image(i), quality=95))
    w.close()
    return rec, idx


def labels_per_epoch(it, epochs):
    out = []
    for _ in range(epochs):
        out.append([(b.label[0].asnumpy().astype(int).tolist(), b.pad) for b in it])
        it.reset()
    return out


def test_batch_matches_mxnet():
    ref = np.load(os.path.join(DATA, "images_ref.npz"))
    it = mx.io.ImageRecordIter(path_imgrec=os.path.join(DATA, "images.rec"),
                               data_shape=(3, 10, 10), batch_size=3, resize=11, mean_r=120,
                               mean_g=110, mean_b=100, std_r=50, std_g=60, std_b=70,
                               scale=0.5, preprocess_threads=2, round_batch=False)
    batch = it.next()
    np.testing.assert_array_equal(batch.data[0].asnumpy(), ref["iter_data"])
    np.testing.assert_array_equal(batch.label[0].asnumpy(), ref["iter_label"])
    assert batch.index.tolist() == [100, 101, 102]


def test_round_batch_completes_from_the_start_and_next_epoch_continues(ten):
    it = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=4)
    assert labels_per_epoch(it, 3) == [
        [([0, 1, 2, 3], 0), ([4, 5, 6, 7], 0), ([8, 9, 0, 1], 2)],
        [([2, 3, 4, 5], 0), ([6, 7, 8, 9], 0)],
        [([0, 1, 2, 3], 0), ([4, 5, 6, 7], 0), ([8, 9, 0, 1], 2)]]


def test_without_round_batch_the_unfilled_slots_are_zero_and_counted(ten):
    it = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=4,
                               round_batch=False)
    batches = list(it)
    assert [b.pad for b in batches] == [0, 0, 2]
    assert not batches[-1].data[0].asnumpy()[2:].any()


def test_parts_with_an_index_are_mxnet_slices(ten):
    parts = [[int(b.label[0].asnumpy()[0]) for b in mx.io.ImageRecordIter(
        path_imgrec=ten[0], path_imgidx=ten[1], data_shape=(3, 8, 8), batch_size=1,
        num_parts=3, part_index=p, round_batch=False)] for p in range(3)]
    assert parts == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_parts_without_an_index_are_mxnet_byte_ranges(ten):
    parts = [[int(b.label[0].asnumpy()[0]) for b in mx.io.ImageRecordIter(
        path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=1, num_parts=3, part_index=p,
        round_batch=False)] for p in range(3)]
    assert parts == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


@pytest.mark.parametrize("use_index", [True, False])
@pytest.mark.parametrize("num_parts", [1, 2, 4, 7])
def test_parts_cover_every_record_exactly_once(ten, use_index, num_parts):
    seen = []
    for p in range(num_parts):
        try:
            it = mx.io.ImageRecordIter(path_imgrec=ten[0],
                                       path_imgidx=ten[1] if use_index else "",
                                       data_shape=(3, 8, 8), batch_size=1, num_parts=num_parts,
                                       part_index=p, round_batch=False, shuffle=True)
        except MXNetError as e:  # a part may hold no record when parts outnumber records
            assert "holds no records" in str(e)
            continue
        seen += [int(b.label[0].asnumpy()[0]) for b in it]
    assert sorted(seen) == list(range(10))


def test_mirror_and_normalization_match_mxnet(ten):
    it = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=10,
                               mirror=True, mean_r=1, std_r=2)
    d = it.next().data[0].asnumpy()
    assert d[0, 0, 0].tolist() == [-0.5, 0.0, -0.5, -0.5, 4.0, 0.5, -0.5, -0.5]
    assert d[0, 2, 0].tolist() == [0.0, 2.0, 30.0, 85.0, 169.0, 224.0, 251.0, 254.0]


def test_uint8_iter_gives_raw_pixels_as_mxnet(ten):
    it = mx.io.ImageRecordUInt8Iter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=10)
    d = it.next().data[0]
    assert d.dtype == np.uint8
    assert d.asnumpy()[1, 0, 0].tolist() == [20, 20, 25, 32, 12, 17, 20, 19]


def test_random_crop_and_mirror_are_crops_of_the_decoded_image(tmp_path):
    rng = np.random.RandomState(0)
    imgs = [rng.randint(0, 256, (20, 24, 3)).astype(np.uint8) for _ in range(6)]
    rec = str(tmp_path / "r.rec")
    w = mx.recordio.MXRecordIO(rec, "w")
    for i, img in enumerate(imgs):
        w.write(mx.recordio.pack_img((0, float(i), i, 0), img, quality=3, img_fmt=".png"))
    w.close()
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 8, 10), batch_size=6,
                               rand_crop=True, rand_mirror=True, seed=3)
    data = it.next().data[0].asnumpy()
    mirrored = 0
    for img, out in zip(imgs, data):
        rgb = img[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)
        found = [(y, x, m) for y in range(13) for x in range(15) for m in (False, True)
                 if np.array_equal(out, (rgb[:, y:y + 8, x:x + 10][:, :, ::-1] if m
                                         else rgb[:, y:y + 8, x:x + 10]))]
        assert found, "the output is no crop of the image"
        mirrored += found[0][2]
    assert 0 < mirrored < 6


def test_augmentation_is_reproducible_whatever_the_thread_count(ten):
    def run(threads):
        it = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=5,
                                   rand_crop=True, rand_mirror=True, max_random_scale=1.3,
                                   min_random_scale=0.9, seed=11, shuffle=True,
                                   preprocess_threads=threads)
        return np.concatenate([b.data[0].asnumpy() for b in it])
    np.testing.assert_array_equal(run(1), run(3))


def test_seed_aug_seeds_the_augmentation_apart_from_the_order(ten):
    def run(**seeds):
        it = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=5,
                                   rand_crop=True, rand_mirror=True, max_random_scale=1.3,
                                   min_random_scale=0.9, shuffle=True, **seeds)
        batches = list(it)
        return (np.concatenate([b.data[0].asnumpy() for b in batches]),
                np.concatenate([b.label[0].asnumpy() for b in batches]))
    same_aug = run(seed=1, seed_aug=7), run(seed=1, seed_aug=7)
    np.testing.assert_array_equal(same_aug[0][0], same_aug[1][0])
    other_aug = run(seed=1, seed_aug=8)
    np.testing.assert_array_equal(other_aug[1], same_aug[0][1])  # same order
    assert not np.array_equal(other_aug[0], same_aug[0][0])


def test_placement_arguments_are_accepted_as_mxnets(ten):
    it = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=5,
                               ctx="cpu", device_id=-1, shuffle_chunk_size=16,
                               shuffle_chunk_seed=3, aug_seq="aug_default")
    assert len(list(it)) == 2


def test_shuffle_permutes_every_epoch_from_the_seed(ten):
    def epochs(seed):
        it = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=5,
                                   shuffle=True, seed=seed)
        return [sum((b.label[0].asnumpy().astype(int).tolist() for b in it), [])
                for _ in range(2) if it.reset() or True]
    first = epochs(1)
    assert all(sorted(e) == list(range(10)) for e in first)
    assert first[0] != first[1]
    assert epochs(1) == first


def test_resize_then_center_crop_matches_a_cv2_reference(ten):
    it = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 6, 6), batch_size=10,
                               resize=9, inter_method=1)
    out = it.next().data[0].asnumpy()[3]
    decoded = cv2.imdecode(np.frombuffer(mx.recordio.unpack(mx.recordio.pack_img(
        (0, 3.0, 3, 0), ten_image(3), quality=95))[1], np.uint8), cv2.IMREAD_COLOR)
    small = cv2.resize(decoded, (9 * 14 // 12, 9), interpolation=cv2.INTER_LINEAR)
    y, x = (9 - 6) // 2, (small.shape[1] - 6) // 2
    expect = small[y:y + 6, x:x + 6, ::-1].transpose(2, 0, 1).astype(np.float32)
    np.testing.assert_array_equal(out, expect)


def test_brightness_jitter_keeps_pixels_in_range(ten):
    it = mx.io.ImageRecordUInt8Iter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=10,
                                    brightness=0.5, contrast=0.5, saturation=0.5, seed=2)
    plain = mx.io.ImageRecordUInt8Iter(path_imgrec=ten[0], data_shape=(3, 8, 8),
                                       batch_size=10)
    assert not np.array_equal(it.next().data[0].asnumpy(), plain.next().data[0].asnumpy())


def test_multi_label_records_give_label_width_columns(tmp_path):
    rec = str(tmp_path / "m.rec")
    w = mx.recordio.MXRecordIO(rec, "w")
    for i in range(3):
        w.write(mx.recordio.pack_img((0, [i, i + 0.5], i, 0), ten_image(i)))
    w.close()
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 8, 8), batch_size=3,
                               label_width=2)
    assert it.provide_label[0].shape == (3, 2)
    np.testing.assert_array_equal(it.next().label[0].asnumpy(),
                                  [[0, 0.5], [1, 1.5], [2, 2.5]])


def test_label_width_not_matching_the_records_raises(ten):
    it = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=2,
                               label_width=2)
    with pytest.raises(MXNetError, match="label_width is set to 2"):
        it.next()


def test_image_list_labels_replace_the_records(ten, tmp_path):
    lst = tmp_path / "l.lst"
    lst.write_text("".join(f"{i}\t{i * 10}\t{i}.jpg\n" for i in range(10)))
    it = mx.io.ImageRecordIter(path_imgrec=ten[0], path_imglist=str(lst), data_shape=(3, 8, 8),
                               batch_size=10)
    np.testing.assert_array_equal(it.next().label[0].asnumpy(), np.arange(10) * 10)


def test_mean_img_is_computed_saved_and_subtracted(ten, tmp_path):
    path = str(tmp_path / "mean.nd")
    it = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=10,
                               mean_img=path)
    plain = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=10)
    raw = plain.next().data[0].asnumpy()
    assert os.path.exists(path)
    np.testing.assert_allclose(it.next().data[0].asnumpy(), raw - raw.mean(axis=0),
                               atol=1e-3)
    again = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=10,
                                  mean_img=path)
    np.testing.assert_allclose(again.next().data[0].asnumpy(), raw - raw.mean(axis=0),
                               atol=1e-3)


def corrupt_rec(tmp_path):
    rec = str(tmp_path / "c.rec")
    w = mx.recordio.MXRecordIO(rec, "w")
    for i in range(6):
        payload = mx.recordio.pack_img((0, float(i), i, 0), ten_image(i))
        if i == 2:
            payload = mx.recordio.pack((0, float(i), i, 0), b"\xff\xd8\xff not a jpeg")
        w.write(payload)
    w.close()
    return rec


def test_corrupt_image_is_skipped_with_a_warning_and_counted(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        it = mx.io.ImageRecordIter(path_imgrec=corrupt_rec(tmp_path), data_shape=(3, 8, 8),
                                   batch_size=5, round_batch=False)
        batches = list(it)
    labels = [b.label[0].asnumpy().astype(int).tolist() for b in batches]
    assert labels == [[0, 1, 3, 4, 5]] and batches[0].pad == 0
    assert any("id 2" in str(w.message) for w in caught)
    assert it.statistics().skipped == 1 and it.statistics().images == 5


def test_corrupt_records_are_counted_in_telemetry(tmp_path):
    from prometheus_client import CollectorRegistry
    from flowmod import telemetry

    registry = CollectorRegistry()
    telemetry.enable(registry)

    def count(name):
        return registry.get_sample_value("flowmod_io_corrupt_records_total",
                                         {"iterator": name}) or 0

    before = count("c.rec"), count("named")
    rec = corrupt_rec(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kwargs in ({}, {"telemetry_name": "named"}):
            it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 8, 8), batch_size=5,
                                       round_batch=False, **kwargs)
            list(it)  # two epochs: two skips
            it.reset()
            list(it)
            it.close()
    assert (count("c.rec") - before[0], count("named") - before[1]) == (2, 2)


def test_truncated_and_garbled_jpegs_never_crash(tmp_path):
    """A JPEG cut short or with garbage in its entropy-coded data decodes (libjpeg fills the
    rest, as MXNet's OpenCV does) or is skipped; header-only and empty payloads are
    skipped; the batch is full either way."""
    good = mx.recordio.pack_img((0, 0.0, 0, 0), ten_image(5), quality=90)[24:]
    payloads = [good[:len(good) // 2], good[:20], b"", good[:200] + bytes(range(256)) * 4,
                b"GIF89a" + bytes(40)]
    rec = str(tmp_path / "bad.rec")
    w = mx.recordio.MXRecordIO(rec, "w")
    for i, p in enumerate(payloads + [good] * 5):
        w.write(mx.recordio.pack((0, float(i), i, 0), p))
    w.close()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 8, 8), batch_size=5,
                                   round_batch=False)
        batches = list(it)
    stats = it.statistics()
    assert stats.images + stats.skipped == 10 and stats.skipped >= 3
    assert sum(5 - b.pad for b in batches) == stats.images
    assert all(np.isfinite(b.data[0].asnumpy()).all() for b in batches)


@pytest.mark.parametrize("arg", ["path_imgidx", "path_imglist"])
def test_missing_index_or_list_file_names_the_path(ten, tmp_path, arg):
    missing = str(tmp_path / f"absent_{arg}.txt")
    with pytest.raises((MXNetError, OSError), match=f"absent_{arg}"):
        mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=2,
                              **{arg: missing})


def test_telemetry_name_must_be_a_non_empty_string(ten):
    with pytest.raises(MXNetError, match="telemetry_name=''"):
        mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=2,
                              telemetry_name="")


def test_fit_reads_the_batches_without_copying_them(ten):
    """The batches are new arrays the iterator never writes again, so read-ahead keeps
    them: the record holds the iterator's own NDArray."""
    from flowmod.io.prefetch import BatchRecord

    it = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=5)
    batch = it.next()
    record = BatchRecord.of(batch)
    assert record.data[0] is batch.data[0] and record.label[0] is batch.label[0]
    plain = BatchRecord.of(mx.io.DataBatch([batch.data[0]], [batch.label[0]]))
    assert plain.data[0] is not batch.data[0]


def test_corrupt_image_raises_with_raise_on_corrupt(tmp_path):
    it = mx.io.ImageRecordIter(path_imgrec=corrupt_rec(tmp_path), data_shape=(3, 8, 8),
                               batch_size=5, raise_on_corrupt=True)
    with pytest.raises(MXNetError, match=r"offset \d+ \(id 2\) is corrupt"):
        it.next()


def test_truncated_rec_file_raises_naming_the_offset(ten, tmp_path):
    raw = open(ten[0], "rb").read()
    path = tmp_path / "cut.rec"
    path.write_bytes(raw[:len(raw) - 10])
    with pytest.raises(MXNetError, match="truncated record at offset"):
        mx.io.ImageRecordIter(path_imgrec=str(path), data_shape=(3, 8, 8), batch_size=2)


def test_missing_rec_file_names_the_path(tmp_path):
    with pytest.raises(MXNetError, match="nothere.rec"):
        mx.io.ImageRecordIter(path_imgrec=str(tmp_path / "nothere.rec"),
                              data_shape=(3, 8, 8), batch_size=2)


@pytest.mark.parametrize("kwargs,match", [
    (dict(dtype="int32"), "dtype='int32'"),
    (dict(data_shape=(2, 8, 8)), "data_shape=.2, 8, 8."),
    (dict(part_index=3, num_parts=3), "part_index=3"),
    (dict(batch_size=0), "batch_size=0"),
    (dict(preprocess_threads=0), "preprocess_threads=0"),
    (dict(random_resized_crop=True, rand_crop=True), "random_resized_crop"),
    (dict(aug_seq="aug_default,det_aug_default"), "aug_seq=.*only MXNet's default"),
    (dict(seed_aug=-1), "seed_aug=-1"),
    (dict(shuffle_chunk_size=-1), "shuffle_chunk_size=-1"),
])
def test_bad_arguments_raise_naming_them(ten, kwargs, match):
    args = dict(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=2)
    args.update(kwargs)
    with pytest.raises(MXNetError, match=match):
        mx.io.ImageRecordIter(**args)


def test_close_stops_the_threads(ten):
    it = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=2)
    it.next()
    loader, workers = it._epoch.thread, list(it._pool._threads)
    it.close()
    assert workers and not any(t.is_alive() for t in workers + [loader])


def test_an_iterator_nobody_refers_to_stops_its_loader(ten):
    import gc
    it = mx.io.ImageRecordIter(path_imgrec=ten[0], data_shape=(3, 8, 8), batch_size=1,
                               prefetch_buffer=1)
    loader = it._epoch.thread
    del it
    gc.collect()
    loader.join(timeout=5)
    assert not loader.is_alive()


def test_skipped_image_is_replaced_by_a_later_one_and_only_the_last_batch_pads(tmp_path):
    rec = str(tmp_path / "c.rec")
    w = mx.recordio.MXRecordIO(rec, "w")
    for i in range(10):
        payload = (mx.recordio.pack((0, float(i), i, 0), b"broken") if i in (1, 4)
                   else mx.recordio.pack_img((0, float(i), i, 0), ten_image(i)))
        w.write(payload)
    w.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 8, 8), batch_size=3,
                                   round_batch=False, prefetch_buffer=4)
        batches = list(it)
    labels = [int(v) for b in batches for v in b.label[0].asnumpy()[:3 - b.pad]]
    assert sorted(labels) == [0, 2, 3, 5, 6, 7, 8, 9]
    assert [b.pad for b in batches] == [0, 0, 1]

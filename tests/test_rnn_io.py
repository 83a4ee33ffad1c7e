"""mx.rnn.encode_sentences and BucketSentenceIter against hand-computed cases."""
import random

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError


# ---- encode_sentences ---------------------------------------------------------------------
def test_encode_builds_a_vocab_in_order_of_appearance():
    encoded, vocab = mx.rnn.encode_sentences([["the", "cat"], ["the", "dog", "sat"]])
    assert encoded == [[0, 1], [0, 2, 3]]
    assert vocab == {"\n": -1, "the": 0, "cat": 1, "dog": 2, "sat": 3}


def test_encode_skips_the_invalid_label_when_numbering():
    encoded, vocab = mx.rnn.encode_sentences([["a", "b", "c"]], invalid_label=1,
                                             invalid_key="<eos>")
    assert vocab == {"<eos>": 1, "a": 0, "b": 2, "c": 3}
    assert encoded == [[0, 2, 3]]


def test_encode_starts_numbering_at_start_label():
    encoded, vocab = mx.rnn.encode_sentences([["x", "y", "x"]], invalid_label=0, start_label=1)
    assert encoded == [[1, 2, 1]] and vocab["\n"] == 0


def test_encode_with_a_vocab_maps_known_tokens():
    vocab = {"\n": -1, "a": 0, "b": 1}
    encoded, out = mx.rnn.encode_sentences([["b", "a", "\n"]], vocab=vocab)
    assert encoded == [[1, 0, -1]] and out is vocab


def test_encode_with_a_vocab_and_unknown_token_maps_every_unknown_to_one_id():
    vocab = {"\n": -1, "a": 0, "b": 1}
    encoded, out = mx.rnn.encode_sentences([["a", "zebra"], ["yak", "b"]], vocab=vocab,
                                           unknown_token="<unk>")
    assert encoded == [[0, 2], [2, 1]]
    assert out["<unk>"] == 2 and "zebra" not in out


def test_encode_uses_an_unknown_token_already_in_the_vocab():
    vocab = {"<unk>": 7, "a": 0}
    encoded, _ = mx.rnn.encode_sentences([["q", "a"]], vocab=vocab, unknown_token="<unk>")
    assert encoded == [[7, 0]]


def test_encode_with_a_vocab_rejects_an_unknown_token():
    with pytest.raises(MXNetError, match="unknown token 'c'"):
        mx.rnn.encode_sentences([["a", "c"]], vocab={"a": 0})


def test_encode_rejects_a_sentence_given_as_a_string():
    with pytest.raises(TypeError, match=r"sentences\[0\]"):
        mx.rnn.encode_sentences(["hello world"])


# ---- BucketSentenceIter -----------------------------------------------------------------------
SENTENCES = [[1, 2], [3, 4, 5], [6, 7], [8, 9, 10, 11], [12], [13, 14, 15], [1, 2, 3, 4, 5, 6]]


def _batches(it):
    return list(it)


def test_iterator_pads_to_the_bucket_and_shifts_labels_by_one_step():
    it = mx.rnn.BucketSentenceIter([[1, 2, 3]], batch_size=1, buckets=[5], invalid_label=0)
    (batch,) = _batches(it)
    np.testing.assert_array_equal(batch.data[0].asnumpy(), [[1, 2, 3, 0, 0]])
    np.testing.assert_array_equal(batch.label[0].asnumpy(), [[2, 3, 0, 0, 0]])
    assert batch.bucket_key == 5 and batch.pad == 0


def test_iterator_puts_each_sentence_in_the_shortest_bucket_that_fits():
    random.seed(0)
    np.random.seed(0)
    it = mx.rnn.BucketSentenceIter(SENTENCES, batch_size=2, buckets=[4, 2])
    assert it.buckets == [2, 4]
    # bucket 2: [1,2] [6,7] [12]; bucket 4: [3,4,5] [8..11] [13,14,15]; [1..6] is discarded.
    batches = _batches(it)
    assert sorted(b.bucket_key for b in batches) == [2, 4]
    for b in batches:
        rows = {tuple(r) for r in b.data[0].asnumpy().astype(int)}
        if b.bucket_key == 2:
            assert rows <= {(1, 2), (6, 7), (12, -1)}
        else:
            assert rows <= {(3, 4, 5, -1), (8, 9, 10, 11), (13, 14, 15, -1)}
        assert b.data[0].shape == (2, b.bucket_key)


def test_iterator_reports_discarded_sentences(capsys):
    mx.rnn.BucketSentenceIter(SENTENCES, batch_size=1, buckets=[3])
    assert "discarded 2 sentences longer than the largest bucket" in capsys.readouterr().out


def test_iterator_drops_each_buckets_incomplete_last_batch():
    it = mx.rnn.BucketSentenceIter([[1]] * 5 + [[1, 2]] * 3, batch_size=2, buckets=[1, 2])
    keys = sorted(b.bucket_key for b in it)
    assert keys == [1, 1, 2]


def test_automatic_buckets_are_lengths_with_a_full_batch_of_sentences():
    sentences = [[1, 2]] * 3 + [[1, 2, 3]] * 1 + [[1, 2, 3, 4]] * 2
    it = mx.rnn.BucketSentenceIter(sentences, batch_size=2)
    assert it.buckets == [2, 4]
    assert it.default_bucket_key == 4


def test_provide_data_is_the_default_buckets_and_each_batch_gives_its_own():
    it = mx.rnn.BucketSentenceIter([[1, 2]] * 2 + [[1, 2, 3, 4]] * 2, batch_size=2,
                                   buckets=[2, 4], data_name="words", label_name="next")
    assert it.provide_data == [("words", (2, 4))]
    assert it.provide_label == [("next", (2, 4))]
    assert it.provide_data[0].layout == "NT"
    for batch in it:
        assert batch.provide_data == [("words", (2, batch.bucket_key))]
        assert batch.provide_label == [("next", (2, batch.bucket_key))]


def test_time_major_layout_transposes_batches():
    it = mx.rnn.BucketSentenceIter([[1, 2, 3], [4, 5, 6]], batch_size=2, buckets=[3],
                                   layout="TN")
    assert it.provide_data == [("data", (3, 2))]
    (batch,) = _batches(it)
    data = batch.data[0].asnumpy()
    assert data.shape == (3, 2)
    assert sorted(map(tuple, data.T.astype(int))) == [(1, 2, 3), (4, 5, 6)]
    np.testing.assert_array_equal(batch.label[0].asnumpy()[:-1], data[1:])


def test_reset_starts_a_new_epoch_with_every_batch():
    it = mx.rnn.BucketSentenceIter([[1, 2]] * 4 + [[1, 2, 3]] * 2, batch_size=2)
    first = sorted(b.bucket_key for b in it)
    assert list(it) == []
    it.reset()
    assert sorted(b.bucket_key for b in it) == first == [2, 2, 3]


def test_dtype_sets_the_arrays_type():
    it = mx.rnn.BucketSentenceIter([[1, 2]] * 2, batch_size=2, dtype="int32")
    batch = next(iter(it))
    assert batch.data[0].dtype == np.int32 and batch.label[0].dtype == np.int32


def test_iterator_feeds_a_module_one_bucket():
    # The default bucket's shapes bind a Module that then trains on a batch of it.
    it = mx.rnn.BucketSentenceIter([[1, 2, 3]] * 4, batch_size=2, buckets=[3])
    data = mx.sym.Variable("data")
    emb = mx.sym.Embedding(data, input_dim=5, output_dim=4, name="embed")
    fc = mx.sym.FullyConnected(mx.sym.Reshape(emb, shape=(-1, 4)), num_hidden=5, name="pred")
    label = mx.sym.Reshape(mx.sym.Variable("softmax_label"), shape=(-1,))
    net = mx.sym.SoftmaxOutput(fc, label, use_ignore=True, ignore_label=-1, name="softmax")
    mod = mx.mod.Module(net)
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params()
    mod.init_optimizer()
    for batch in it:
        mod.forward_backward(batch)
        mod.update()
    assert mod.get_outputs()[0].shape == (6, 5)


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size=0"),
    ({"batch_size": 2, "layout": "NTC"}, "layout='NTC'"),
    ({"batch_size": 2, "buckets": [0, 3]}, r"buckets=\[0, 3\]"),
    ({"batch_size": 50}, "batch_size=50"),
])
def test_iterator_rejects_bad_arguments(kwargs, match):
    with pytest.raises(MXNetError, match=match):
        mx.rnn.BucketSentenceIter(SENTENCES, **kwargs)


def test_bucketed_lstm_learns_a_sequence_whose_next_token_is_determined():
    # Each sentence counts up from a random start (ids 1..9, wrapping), so a model that
    # learns the successor reaches perplexity 1; the uniform guess is 10.
    rng = np.random.default_rng(0)
    sentences = [[1 + (s + k) % 9 for k in range(n)]
                 for s, n in zip(rng.integers(0, 9, 400), rng.integers(3, 9, 400))]
    random.seed(0)
    np.random.seed(0)
    mx.random.seed(0)
    train = mx.rnn.BucketSentenceIter(sentences, 20, buckets=[4, 8], invalid_label=0)
    cell = mx.rnn.LSTMCell(16, prefix="lstm_")

    def sym_gen(seq_len):
        embed = mx.sym.Embedding(mx.sym.Variable("data"), input_dim=10, output_dim=8,
                                 name="embed")
        cell.reset()
        outputs, _ = cell.unroll(seq_len, embed, merge_outputs=True)
        pred = mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, 16)), num_hidden=10,
                                     name="pred")
        label = mx.sym.Reshape(mx.sym.Variable("softmax_label"), shape=(-1,))
        out = mx.sym.SoftmaxOutput(pred, label, use_ignore=True, ignore_label=0,
                                   normalization="valid", name="softmax")
        return out, ("data",), ("softmax_label",)

    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=train.default_bucket_key)
    mod.fit(train, num_epoch=15, optimizer="adam", optimizer_params={"learning_rate": 0.02},
            initializer=mx.init.Xavier(), eval_metric=mx.metric.Perplexity(ignore_label=0))
    (name, perplexity), = mod.score(train, mx.metric.Perplexity(ignore_label=0))
    assert name == "perplexity" and perplexity < 1.5
    assert set(mod.get_params()[0]) == {"embed_weight", "lstm_i2h_weight", "lstm_i2h_bias",
                                        "lstm_h2h_weight", "lstm_h2h_bias", "pred_weight",
                                        "pred_bias"}

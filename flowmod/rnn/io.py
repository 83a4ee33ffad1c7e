"""Sentence data for recurrent language models (``mxnet.rnn.io``): ``encode_sentences``
turns tokens into integer ids, ``BucketSentenceIter`` batches sentences of similar length
together (padded to their bucket's length) for a BucketingModule."""
from __future__ import annotations

import bisect
import numbers
import random

import numpy as np

from .. import ndarray
from ..base import MXNetError
from ..io import DataBatch, DataDesc, DataIter

__all__ = ["encode_sentences", "BucketSentenceIter"]


def encode_sentences(sentences, vocab: dict | None = None, invalid_label: int = -1,
                     invalid_key: str = "\n", start_label: int = 0,
                     unknown_token: str | None = None) -> tuple[list, dict]:
    """encode_sentences(sentences, vocab=None, invalid_label=-1, invalid_key='\\\\n',
    start_label=0, unknown_token=None) -> (encoded, vocab)

    Each sentence (a list of string tokens) as a list of integer ids. Without ``vocab`` a
    new one is built: ``{invalid_key: invalid_label}`` and then each new token in order of
    appearance takes the next id from ``start_label`` on, skipping ``invalid_label``. With
    ``vocab`` (a dict token -> id, extended in place as MXNet does) a token not in it is
    encoded as ``unknown_token``, which is added once with the next free id if missing; with
    neither, an unknown token is an error.
    """
    if vocab is not None and not isinstance(vocab, dict):
        raise TypeError(f"encode_sentences: vocab={type(vocab).__name__}: expected a dict of "
                        f"token -> id, or None")
    for arg, value in (("invalid_label", invalid_label), ("start_label", start_label)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise TypeError(f"encode_sentences: {arg}={value!r}: expected an integer")
    new_vocab = vocab is None
    if new_vocab:
        vocab = {invalid_key: invalid_label}
        next_id = start_label
    else:
        used = [v for v in vocab.values() if isinstance(v, numbers.Integral)]
        next_id = max([start_label - 1] + used) + 1
    encoded = []
    for n, sentence in enumerate(sentences):
        if isinstance(sentence, str):
            raise TypeError(f"encode_sentences: sentences[{n}]={sentence[:40]!r}: expected a "
                            f"list of tokens, not a string")
        coded = []
        for word in sentence:
            if word not in vocab:
                if not new_vocab:
                    if not unknown_token:
                        raise MXNetError(f"encode_sentences: sentences[{n}]: unknown token "
                                         f"{word!r}: it is not in vocab and no unknown_token "
                                         f"was given")
                    word = unknown_token
                if word not in vocab:
                    if next_id == invalid_label:
                        next_id += 1
                    vocab[word] = next_id
                    next_id += 1
            coded.append(vocab[word])
        encoded.append(coded)
    return encoded, vocab


class BucketSentenceIter(DataIter):
    """BucketSentenceIter(sentences, batch_size, buckets=None, invalid_label=-1,
    data_name='data', label_name='softmax_label', dtype='float32', layout='NT')

    Batches of encoded sentences (lists of ids) for language modelling: each sentence goes
    to the shortest bucket at least as long, padded with ``invalid_label``; its label is the
    sentence shifted by one step (the next token), ending in ``invalid_label``. Sentences
    longer than the largest bucket are discarded, and so is each bucket's last incomplete
    batch. Without ``buckets``, every length that at least ``batch_size`` sentences have is a
    bucket.

    Each batch has the ``bucket_key`` of its bucket (its length) and its own
    ``provide_data``/``provide_label``; the iterator's are the largest bucket's
    (``default_bucket_key``). ``layout`` 'NT' gives (batch, length) arrays, 'TN'
    (length, batch). ``reset`` shuffles batches and sentences with Python's and numpy's
    global generators.
    """

    def __init__(self, sentences, batch_size: int, buckets=None, invalid_label: int = -1,
                 data_name: str = "data", label_name: str = "softmax_label",
                 dtype="float32", layout: str = "NT"):
        super().__init__(batch_size)
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) \
                or batch_size < 1:
            raise MXNetError(f"BucketSentenceIter: batch_size={batch_size!r}: expected a "
                             f"positive integer")
        if layout not in ("NT", "TN"):
            raise MXNetError(f"BucketSentenceIter: layout={layout!r}: expected 'NT' (batch "
                             f"major) or 'TN' (time major)")
        sentences = list(sentences)
        if not buckets:
            counts = np.bincount([len(s) for s in sentences]) if sentences else []
            # An empty sentence predicts nothing: length 0 is never a bucket.
            buckets = [length for length, count in enumerate(counts)
                       if length > 0 and count >= batch_size]
            if not buckets:
                raise MXNetError(f"BucketSentenceIter: no sentence length occurs "
                                 f"batch_size={batch_size} times, so no bucket can be made: "
                                 f"give buckets or a smaller batch_size")
        elif any(not isinstance(b, numbers.Integral) or isinstance(b, bool) or b < 1
                 for b in buckets):
            raise MXNetError(f"BucketSentenceIter: buckets={buckets!r}: expected a list of "
                             f"positive integer lengths")
        buckets = sorted(int(b) for b in buckets)

        rows = [[] for _ in buckets]
        ndiscard = 0
        for sentence in sentences:
            b = bisect.bisect_left(buckets, len(sentence))
            if b == len(buckets):
                ndiscard += 1
                continue
            row = np.full((buckets[b],), invalid_label, dtype=dtype)
            row[:len(sentence)] = sentence
            rows[b].append(row)
        if ndiscard:
            print(f"WARNING: discarded {ndiscard} sentences longer than the largest bucket.")
        self.data = [np.asarray(r, dtype=dtype).reshape(len(r), length)
                     for r, length in zip(rows, buckets)]

        self.batch_size = int(batch_size)
        self.buckets = buckets
        self.data_name = data_name
        self.label_name = label_name
        self.dtype = dtype
        self.invalid_label = invalid_label
        self.layout = layout
        self.major_axis = layout.find("N")
        self.default_bucket_key = max(buckets)
        self.provide_data = [DataDesc(data_name, self._shape(self.default_bucket_key),
                                      dtype, layout)]
        self.provide_label = [DataDesc(label_name, self._shape(self.default_bucket_key),
                                       dtype, layout)]
        self.idx = [(i, j) for i, rows_i in enumerate(self.data)
                    for j in range(0, len(rows_i) - self.batch_size + 1, self.batch_size)]
        self.curr_idx = 0
        self.nddata: list = []
        self.ndlabel: list = []
        self.reset()

    def _shape(self, length: int) -> tuple:
        if self.major_axis == 0:
            return (self.batch_size, length)
        return (length, self.batch_size)

    def reset(self) -> None:
        """Shuffles the batches and the sentences in each bucket and starts again."""
        self.curr_idx = 0
        random.shuffle(self.idx)
        for rows in self.data:
            np.random.shuffle(rows)
        self.nddata, self.ndlabel = [], []
        for rows in self.data:
            label = np.empty_like(rows)
            label[:, :-1] = rows[:, 1:]
            label[:, -1] = self.invalid_label
            self.nddata.append(ndarray.array(rows, dtype=self.dtype))
            self.ndlabel.append(ndarray.array(label, dtype=self.dtype))

    def next(self) -> DataBatch:
        """The next batch; StopIteration at the end of the epoch."""
        if self.curr_idx == len(self.idx):
            raise StopIteration
        i, j = self.idx[self.curr_idx]
        self.curr_idx += 1
        data = self.nddata[i][j:j + self.batch_size]
        label = self.ndlabel[i][j:j + self.batch_size]
        if self.major_axis == 1:
            data, label = data.T, label.T
        return DataBatch([data], [label], pad=0, bucket_key=self.buckets[i],
                         provide_data=[DataDesc(self.data_name, data.shape, self.dtype,
                                                self.layout)],
                         provide_label=[DataDesc(self.label_name, label.shape, self.dtype,
                                                 self.layout)])

"""A word-level LSTM language model trained with buckets, as MXNet's
example/rnn/bucketing/lstm_bucketing.py does, on a corpus every Python ships: the docstrings
of a fixed list of standard-library modules (and of their public classes, functions and
methods), split into sentences of words.

    python examples/lstm_bucketing.py                 # a couple of minutes on 2 cores
    python examples/lstm_bucketing.py --num-epochs 10 --num-hidden 256 --num-layers 2
    python examples/lstm_bucketing.py --fused         # one fused RNN operator per layer stack

Sentences are grouped into buckets by length (mx.rnn.BucketSentenceIter); the BucketingModule
binds one unrolled graph per bucket, all sharing the same weights. The log shows the
training and validation perplexity after each epoch.
"""
from __future__ import annotations

import argparse
import collections
import importlib
import inspect
import logging
import random
import re

import numpy as np

import flowmod as mx

# The corpus: a fixed list, so that every run reads the same text. Modules a build of
# Python lacks are skipped.
MODULES = [
    "abc", "argparse", "ast", "asyncio", "base64", "bisect", "calendar", "cmd", "codecs",
    "collections", "concurrent.futures", "configparser", "contextlib", "copy", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "doctest", "email.message", "enum",
    "filecmp", "fractions", "ftplib", "functools", "getopt", "gettext", "glob", "gzip",
    "hashlib", "heapq", "hmac", "html.parser", "http.client", "http.server", "imaplib",
    "inspect", "io", "ipaddress", "itertools", "json", "locale", "logging", "logging.handlers",
    "mailbox", "mimetypes", "multiprocessing.pool", "netrc", "numbers", "operator", "optparse",
    "os", "pathlib", "pdb", "pickle", "pickletools", "platform", "plistlib", "poplib",
    "pprint", "queue", "random", "re", "sched", "secrets", "selectors", "shelve", "shlex",
    "shutil", "smtplib", "socket", "socketserver", "statistics", "string", "struct",
    "subprocess", "symtable", "tarfile", "tempfile", "textwrap", "threading", "timeit",
    "tokenize", "trace", "traceback", "types", "typing", "unittest.case", "unittest.mock",
    "urllib.parse", "urllib.request", "uuid", "warnings", "wave", "weakref", "xml.dom.minidom",
    "xml.etree.ElementTree", "zipfile",
]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+")


def docstrings(module_names) -> list[str]:
    """The docstrings of each module and of its public classes, functions and methods."""
    texts, seen = [], set()
    for module_name in module_names:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        objects = [module]
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            objects.append(obj)
            if inspect.isclass(obj):
                objects.extend(member for member_name, member in sorted(vars(obj).items())
                               if not member_name.startswith("_"))
        for obj in objects:
            doc = inspect.getdoc(obj) if callable(obj) or inspect.ismodule(obj) else None
            if doc and doc not in seen:
                seen.add(doc)
                texts.append(doc)
    return texts


def sentences_of(texts, max_len: int) -> list[list[str]]:
    """Lower-cased word lists, one per sentence of 3 to ``max_len`` words."""
    out = []
    for text in texts:
        for sentence in _SENTENCE_END.split(text):
            words = _WORD.findall(sentence.lower())
            if 3 <= len(words) <= max_len:
                out.append(words)
    return out


def build_vocab(sentences, size: int) -> dict[str, int]:
    """The ``size`` most frequent words and '<unk>', numbered from 1 (0 pads sentences)."""
    counts = collections.Counter(w for s in sentences for w in s)
    words = [w for w, _ in counts.most_common(size)]
    vocab = {"\n": 0}
    vocab.update({w: i + 1 for i, w in enumerate(words)})
    vocab["<unk>"] = len(words) + 1
    return vocab


def make_cell(args):
    """The recurrent stack: LSTMCells (names lstm_l<i>_...), each followed by dropout, or
    one FusedRNNCell."""
    if args.fused:
        return mx.rnn.FusedRNNCell(args.num_hidden, num_layers=args.num_layers, mode="lstm",
                                   dropout=args.dropout if args.num_layers > 1 else 0.0,
                                   prefix="lstm_")
    stack = mx.rnn.SequentialRNNCell()
    for i in range(args.num_layers):
        stack.add(mx.rnn.LSTMCell(num_hidden=args.num_hidden, prefix=f"lstm_l{i}_"))
        if args.dropout > 0:
            stack.add(mx.rnn.DropoutCell(args.dropout, prefix=f"lstm_d{i}_"))
    return stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-epochs", type=int, default=6)
    parser.add_argument("--num-hidden", type=int, default=200)
    parser.add_argument("--num-embed", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.4,
                        help="dropout on each LSTM layer's output (between layers with --fused)")
    parser.add_argument("--vocab-size", type=int, default=3000)
    parser.add_argument("--buckets", default="8,12,16,24,32",
                        help="comma-separated bucket lengths")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--disp-batches", type=int, default=100)
    parser.add_argument("--fused", action="store_true",
                        help="one FusedRNNCell instead of a stack of LSTMCells")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    random.seed(args.seed)
    np.random.seed(args.seed)
    mx.random.seed(args.seed)
    buckets = sorted(int(b) for b in args.buckets.split(","))
    sentences = sentences_of(docstrings(MODULES), max(buckets))
    random.shuffle(sentences)
    split = len(sentences) // 10
    train_words, val_words = sentences[split:], sentences[:split]
    vocab = build_vocab(train_words, args.vocab_size)
    train_ids, _ = mx.rnn.encode_sentences(train_words, vocab=vocab, invalid_label=0,
                                           unknown_token="<unk>")
    val_ids, _ = mx.rnn.encode_sentences(val_words, vocab=vocab, invalid_label=0,
                                         unknown_token="<unk>")
    logging.info("corpus: %d training and %d validation sentences, %d words in the vocabulary",
                 len(train_ids), len(val_ids), len(vocab))

    train = mx.rnn.BucketSentenceIter(train_ids, args.batch_size, buckets=buckets,
                                      invalid_label=0)
    val = mx.rnn.BucketSentenceIter(val_ids, args.batch_size, buckets=buckets,
                                    invalid_label=0)
    cell = make_cell(args)
    layout = "TNC" if args.fused else "NTC"

    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data=data, input_dim=len(vocab), output_dim=args.num_embed,
                                 name="embed")
        if args.fused:
            embed = mx.sym.transpose(embed, axes=(1, 0, 2))
        outputs, _ = cell.unroll(seq_len, inputs=embed, layout=layout, merge_outputs=True)
        if args.fused:
            outputs = mx.sym.transpose(outputs, axes=(1, 0, 2))
        pred = mx.sym.Reshape(outputs, shape=(-1, args.num_hidden))
        pred = mx.sym.FullyConnected(data=pred, num_hidden=len(vocab), name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(data=pred, label=label, use_ignore=True, ignore_label=0,
                                    normalization="valid", name="softmax")
        return pred, ("data",), ("softmax_label",)

    model = mx.mod.BucketingModule(sym_gen=sym_gen,
                                   default_bucket_key=train.default_bucket_key,
                                   context=mx.cpu())
    model.fit(train_data=train, eval_data=val,
              eval_metric=mx.metric.Perplexity(ignore_label=0),
              optimizer="adam", optimizer_params={"learning_rate": args.lr, "clip_gradient": 5.0},
              initializer=mx.init.Xavier(factor_type="in", magnitude=2.34),
              num_epoch=args.num_epochs,
              batch_end_callback=mx.callback.Speedometer(args.batch_size, args.disp_batches))


if __name__ == "__main__":
    main()

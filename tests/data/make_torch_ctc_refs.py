"""Writes torch_ctc_refs.npz, which tests/test_ops_ctc.py reads: for each case, unnormalized
activations (T, B, A), padded labels, the sequence and label lengths, the blank class, a head
gradient, and PyTorch's float64 torch.nn.functional.ctc_loss (reduction='none', after
log_softmax) with its gradient with respect to the activations.

    /path/to/torch/bin/python tests/data/make_torch_ctc_refs.py tests/data
"""
import os
import sys

import numpy as np
import torch

rng = np.random.RandomState(7)

# name -> (T, B, A, blank, labels (B, L) with the padding of that blank, label lengths, data lengths)
CASES = {
    "blank_first": (6, 3, 5, 0, [[1, 2, 0, 0], [3, 3, 1, 0], [1, 2, 1, 3]], [2, 3, 4], [6, 6, 6]),
    "blank_last": (7, 2, 4, 3, [[0, 1, 1, -1], [2, 0, 2, 1]], [3, 4], [7, 7]),
    "data_lengths": (8, 3, 6, 0, [[5, 0, 0], [2, 2, 0], [1, 4, 3]], [1, 2, 3], [8, 4, 6]),
    "single_class": (5, 2, 2, 0, [[1, 1], [1, 0]], [2, 1], [5, 3]),
}


def main(out_dir):
    record = {}
    for name, (t, b, a, blank, labels, label_lengths, data_lengths) in CASES.items():
        x = rng.uniform(-2, 2, (t, b, a))
        head = rng.standard_normal(b)
        act = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        lab = torch.tensor(np.array(labels), dtype=torch.long)
        loss = torch.nn.functional.ctc_loss(torch.log_softmax(act, dim=2), lab.clamp(min=0),
                                            torch.tensor(data_lengths), torch.tensor(label_lengths),
                                            blank=blank, reduction="none")
        loss.backward(torch.tensor(head))
        record[f"{name}/data"] = x
        record[f"{name}/label"] = np.array(labels, dtype=np.float64)
        record[f"{name}/label_lengths"] = np.array(label_lengths, dtype=np.float64)
        record[f"{name}/data_lengths"] = np.array(data_lengths, dtype=np.float64)
        record[f"{name}/blank"] = np.array(blank)
        record[f"{name}/head"] = head
        record[f"{name}/loss"] = loss.detach().numpy()
        record[f"{name}/grad"] = act.grad.numpy()
    np.savez_compressed(os.path.join(out_dir, "torch_ctc_refs.npz"), **record)


if __name__ == "__main__":
    main(sys.argv[1])

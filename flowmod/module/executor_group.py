"""One executor per context for data-parallel training (``mxnet.module.executor_group``):
a batch is split along its batch axis by the work load, each slice runs on its own device,
and outputs, gradients and metrics are gathered back."""
from __future__ import annotations

import logging
from collections import OrderedDict

import numpy as np

from .. import ndarray as nd
from ..base import MXNetError
from ..context import cpu
from ..io import DataDesc


def _split_input_slice(batch_size: int, work_load_list) -> list:
    """Slices of [0, batch_size) proportional to ``work_load_list``."""
    total = float(sum(work_load_list))
    sizes = [int(round(w * batch_size / total)) for w in work_load_list]
    sizes[-1] = batch_size - sum(sizes[:-1])
    slices, start = [], 0
    for size in sizes:
        if size <= 0:
            raise MXNetError(f"work_load_list={list(work_load_list)} gives a device no samples "
                             f"of a batch of {batch_size}; use fewer devices or a larger batch")
        slices.append(slice(start, start + size))
        start += size
    return slices


def _batch_part(array, axis: int, islice: slice):
    """The part of ``array`` in ``islice`` along its batch axis ``axis`` (all of it when it
    has none or the slice covers it)."""
    if axis < 0 or (islice.start == 0 and array.shape[axis] == islice.stop):
        return array
    if axis == 0:
        return array[islice.start:islice.stop]
    return nd.slice_axis(array, axis=axis, begin=islice.start, end=islice.stop)


def _merge_multi_context(outputs, major_axis) -> list:
    """One array per output: the devices' parts concatenated along the batch axis."""
    merged = []
    for tensors, axis in zip(outputs, major_axis):
        if len(tensors) == 1:
            merged.append(tensors[0])
        elif axis >= 0:
            parts = [t.as_in_context(tensors[0].context) for t in tensors]
            merged.append(nd.concat(*parts, dim=axis))
        else:
            merged.append(tensors[0])
    return merged


def _group2ctxs_per_context(group2ctxs, num_contexts: int) -> list:
    """One {ctx_group: Context} per module context, from MXNet's two forms of ``group2ctxs``:
    a list with one such dict per context, or one dict whose values are a Context (for every
    context), a list of one Context (the same) or a list of one per context."""
    if group2ctxs is None:
        return [{} for _ in range(num_contexts)]
    if isinstance(group2ctxs, (list, tuple)):
        if len(group2ctxs) != num_contexts or not all(isinstance(g, dict) for g in group2ctxs):
            raise MXNetError(f"group2ctxs={group2ctxs!r}: expected a list of {num_contexts} "
                             f"dicts of ctx_group name to Context, one per module context")
        return [dict(g) for g in group2ctxs]
    if not isinstance(group2ctxs, dict):
        raise MXNetError(f"group2ctxs={group2ctxs!r}: expected a dict of ctx_group name to "
                         f"Context (or to a list of one per context), or a list of such dicts")
    per_context = [{} for _ in range(num_contexts)]
    for group, ctxs in group2ctxs.items():
        ctxs = list(ctxs) if isinstance(ctxs, (list, tuple)) else [ctxs]
        if len(ctxs) == 1:
            ctxs = ctxs * num_contexts
        if len(ctxs) != num_contexts:
            raise MXNetError(f"group2ctxs[{group!r}] has {len(ctxs)} contexts, expected one or "
                             f"one per module context ({num_contexts})")
        for i, c in enumerate(ctxs):
            per_context[i][group] = c
    return per_context


class DataParallelExecutorGroup:
    """The executors of one Module, one per context, sharing nothing but the batch."""

    def __init__(self, symbol, contexts, workload, data_shapes, label_shapes, param_names,
                 for_training, inputs_need_grad, shared_group=None, logger=logging,
                 fixed_param_names=None, grad_req="write", state_names=None,
                 group2ctxs=None):
        self.param_names = list(param_names)
        self.arg_names = symbol.list_arguments()
        self.aux_names = symbol.list_auxiliary_states()
        self.symbol = symbol
        self.contexts = list(contexts)
        self.workload = list(workload)
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self.logger = logger
        self.fixed_param_names = list(fixed_param_names or [])
        self.state_names = list(state_names or [])
        self.group2ctxs = _group2ctxs_per_context(group2ctxs, len(self.contexts))
        # DataDescs or (name, shape) pairs, as MXNet's group takes them.
        data_shapes = [d if isinstance(d, DataDesc) else DataDesc(*d) for d in data_shapes]
        if label_shapes:
            label_shapes = [d if isinstance(d, DataDesc) else DataDesc(*d)
                            for d in label_shapes]
        self.data_names = [d.name for d in data_shapes]
        self.label_names = [d.name for d in label_shapes] if label_shapes else []
        self.output_names = symbol.list_outputs()
        self.grad_req = self._grad_reqs(grad_req)
        self.execs = []
        self._default_execs = None
        self.data_shapes = self.label_shapes = None
        self.batch_size = None
        self.slices = None
        # Per context, the inputs that are not shared parameters (data, labels, a bucket's
        # own arrays), shared with the group's buckets as MXNet's shared_buffer.
        self.shared_data_arrays = (shared_group.shared_data_arrays if shared_group is not None
                                   else [{} for _ in self.contexts])
        self.bind_exec(data_shapes, label_shapes, shared_group)

    def _grad_reqs(self, grad_req) -> dict:
        reqs = {}
        data_names = set(self.data_names)
        if isinstance(grad_req, str):
            for k in self.arg_names:
                if not self.for_training:
                    reqs[k] = "null"
                elif k in self.param_names:
                    reqs[k] = "null" if k in self.fixed_param_names else grad_req
                elif k in data_names:
                    reqs[k] = grad_req if self.inputs_need_grad else "null"
                else:
                    reqs[k] = "null"
        elif isinstance(grad_req, (list, tuple)):
            if len(grad_req) != len(self.arg_names):
                raise MXNetError(f"grad_req has {len(grad_req)} values for {len(self.arg_names)} "
                                 f"arguments")
            reqs = dict(zip(self.arg_names, grad_req))
        elif isinstance(grad_req, dict):
            reqs = {k: "null" for k in self.arg_names}
            for k in self.arg_names:
                if k in self.param_names:
                    reqs[k] = "null" if k in self.fixed_param_names else "write"
                elif k in data_names and self.inputs_need_grad:
                    reqs[k] = "write"
            reqs.update(grad_req)
        else:
            raise MXNetError(f"grad_req={grad_req!r}: expected a string, a list or a dict")
        if not self.for_training:
            reqs = {k: "null" for k in reqs}
        return reqs

    # ---- binding -------------------------------------------------------------------------
    def decide_slices(self, data_shapes):
        batch_size = None
        for desc in data_shapes:
            axis = DataDesc.get_batch_axis(desc.layout)
            if axis < 0:
                continue
            size = desc.shape[axis]
            if batch_size is not None and size != batch_size:
                raise MXNetError(f"data_shapes: all inputs must have the same batch size: "
                                 f"{desc.name} has {size}, expected {batch_size}")
            batch_size = size
        if batch_size is None:
            raise MXNetError(f"data_shapes={data_shapes}: no input has a batch axis")
        self.batch_size = batch_size
        self.slices = _split_input_slice(batch_size, self.workload)
        return [DataDesc.get_batch_axis(d.layout) for d in data_shapes]

    def _sliced_shape(self, shapes, i, major_axis):
        out = []
        for desc, axis in zip(shapes, major_axis):
            shape = list(desc.shape)
            if axis >= 0:
                shape[axis] = self.slices[i].stop - self.slices[i].start
            out.append(DataDesc(desc.name, tuple(shape), desc.dtype, desc.layout))
        return out

    def bind_exec(self, data_shapes, label_shapes, shared_group=None, reshape=False):
        self.data_layouts = self.decide_slices(data_shapes)
        self.label_layouts = ([DataDesc.get_batch_axis(d.layout) for d in label_shapes]
                              if label_shapes else [])
        execs = []
        for i, ctx in enumerate(self.contexts):
            shapes = self._sliced_shape(data_shapes, i, self.data_layouts)
            if label_shapes:
                shapes += self._sliced_shape(label_shapes, i, self.label_layouts)
            input_shapes = {d.name: d.shape for d in shapes}
            if reshape:
                self._check_params_keep_shapes(self._default_execs[i], input_shapes)
                execs.append(self._default_execs[i].reshape(partial_shaping=True,
                                                            allow_up_sizing=True,
                                                            **input_shapes))
                continue
            input_types = {d.name: d.dtype for d in shapes}
            shared_exec = shared_group.execs[i] if shared_group is not None else None
            execs.append(self.symbol.simple_bind(
                ctx, grad_req=self.grad_req, type_dict=input_types, group2ctx=self.group2ctxs[i],
                shared_arg_names=self.param_names, shared_exec=shared_exec,
                shared_buffer=self.shared_data_arrays[i], **input_shapes))
        self.execs = execs
        self.data_shapes, self.label_shapes = list(data_shapes), list(label_shapes or [])
        self.data_arrays = [[(self.slices[i], e.arg_dict[name]) for i, e in enumerate(execs)]
                            for name in self.data_names]
        self.label_arrays = [[(self.slices[i], e.arg_dict[name]) for i, e in enumerate(execs)]
                             for name in self.label_names if name in execs[0].arg_dict]
        self.state_arrays = [[e.arg_dict[name] for e in execs] for name in self.state_names]
        self.param_arrays = [[e.arg_dict[name] for e in execs] for name in self.arg_names
                             if name in self.param_names]
        if self.for_training:
            self.grad_arrays = [[e.grad_dict.get(name) for e in execs] for name in self.arg_names
                                if name in self.param_names]
        else:
            self.grad_arrays = None
        self.aux_arrays = [[e.aux_dict[name] for e in execs] for name in self.aux_names]
        if self.inputs_need_grad:
            self.input_grad_arrays = [[e.grad_dict[name] for e in execs]
                                      for name in self.data_names if name in execs[0].grad_dict]
        else:
            self.input_grad_arrays = None
        self.output_layouts = [DataDesc.get_batch_axis(self.symbol[name].attr("__layout__"))
                               for name in self.output_names]

    def _check_params_keep_shapes(self, exe, input_shapes) -> None:
        # Inputs (data, labels, states) may take new shapes; a parameter or auxiliary state
        # whose shape would follow them (a batch with another feature count) is refused, as
        # in MXNet, instead of being replaced by a fresh array.
        arg_shapes, _, aux_shapes = self.symbol.infer_shape_partial(**input_shapes)
        for names, shapes, table in ((self.arg_names, arg_shapes, exe.arg_dict),
                                     (self.aux_names, aux_shapes, exe.aux_dict)):
            for name, shape in zip(names, shapes or ()):
                if table is exe.arg_dict and name not in self.param_names:
                    continue
                old = tuple(table[name].shape)
                if shape and tuple(shape) != old:
                    changed = ", ".join(
                        f"{k!r} has shape {tuple(v)}, bound with {tuple(exe.arg_dict[k].shape)}"
                        for k, v in input_shapes.items()
                        if k in exe.arg_dict and tuple(exe.arg_dict[k].shape) != tuple(v))
                    raise MXNetError(
                        f"reshape: {changed}: the shape of parameter {name!r} would change "
                        f"from {old} to {tuple(shape)}. A bound module takes batches of other "
                        f"sizes, not of other sample shapes; bind a new module for those")

    def reshape(self, data_shapes, label_shapes):
        if data_shapes == self.data_shapes and list(label_shapes or []) == self.label_shapes:
            return
        if self._default_execs is None:
            self._default_execs = list(self.execs)
        # bind_exec reassigns the group's attributes; a refused reshape puts them back.
        saved = dict(self.__dict__)
        try:
            self.bind_exec(data_shapes, label_shapes, reshape=True)
        except MXNetError:
            self.__dict__.update(saved)
            raise

    # ---- parameters ----------------------------------------------------------------------
    def set_params(self, arg_params, aux_params, allow_extra=False):
        for exe in self.execs:
            exe.copy_params_from(arg_params, aux_params, allow_extra_params=allow_extra)

    def get_params(self, arg_params, aux_params):
        """Copies the devices' parameters (their mean, when there are several) into
        ``arg_params`` and ``aux_params``."""
        for names, blocks, table in ((self.param_names, self.param_arrays, arg_params),
                                     (self.aux_names, self.aux_arrays, aux_params)):
            for name, block in zip(names, blocks):
                dst = table[name]
                if len(block) == 1:
                    block[0].copyto(dst)
                    continue
                total = block[0].copyto(cpu())
                for w in block[1:]:
                    total += w.copyto(cpu())
                total /= len(block)
                total.copyto(dst)

    # ---- running -------------------------------------------------------------------------
    @staticmethod
    def _load(sources, targets, layouts, names):
        for src, dst_list, axis, name in zip(sources, targets, layouts, names):
            if isinstance(src, np.ndarray):
                src = nd.array(src, dtype=dst_list[0][1].dtype)
            for islice, dst in dst_list:
                part = _batch_part(src, axis, islice)
                if part.shape != dst.shape:
                    raise MXNetError(f"forward: input {name!r} has shape {tuple(part.shape)} in "
                                     f"the batch, but is bound with shape {tuple(dst.shape)} "
                                     f"on this device (reshape the module for other shapes)")
                if part.context != dst.context:
                    part = part.as_in_context(dst.context)
                part.copyto(dst)

    def forward(self, data_batch, is_train=None):
        self._load(data_batch.data, self.data_arrays, self.data_layouts, self.data_names)
        if is_train is None:
            is_train = self.for_training
        if self.label_arrays and data_batch.label:
            self._load(data_batch.label, self.label_arrays, self.label_layouts,
                       [n for n in self.label_names if n in self.execs[0].arg_dict])
        for exe in self.execs:
            exe.forward(is_train=is_train)

    def backward(self, out_grads=None):
        if not self.for_training:
            raise MXNetError("backward: the module was bound with for_training=False")
        if out_grads is not None and not isinstance(out_grads, (list, tuple)):
            out_grads = [out_grads]
        for i, exe in enumerate(self.execs):
            grads = None
            if out_grads is not None:
                grads = []
                for grad, axis in zip(out_grads, self.output_layouts):
                    grad = _batch_part(grad, axis, self.slices[i])
                    grads.append(grad.as_in_context(self.contexts[i]))
            exe.backward(out_grads=grads)

    def get_outputs(self, merge_multi_context=True, begin=0, end=None):
        end = len(self.output_names) if end is None else end
        outputs = [[exe.outputs[i] for exe in self.execs] for i in range(begin, end)]
        if merge_multi_context:
            return _merge_multi_context(outputs, self.output_layouts[begin:end])
        return outputs

    def get_output_shapes(self):
        shapes = []
        for name, out, axis in zip(self.output_names, self.execs[0].outputs,
                                   self.output_layouts):
            shape = list(out.shape)
            if axis >= 0:
                shape[axis] = self.batch_size
            shapes.append((name, tuple(shape)))
        return shapes

    def get_input_grads(self, merge_multi_context=True):
        if not self.inputs_need_grad:
            raise MXNetError("get_input_grads: bind with inputs_need_grad=True first")
        if merge_multi_context:
            return _merge_multi_context(self.input_grad_arrays, self.data_layouts)
        return self.input_grad_arrays

    def get_states(self, merge_multi_context=True):
        if merge_multi_context:
            return _merge_multi_context(self.state_arrays, [0] * len(self.state_arrays))
        return self.state_arrays

    def set_states(self, states=None, value=None):
        if states is not None:
            if value is not None:
                raise MXNetError("set_states: give states or value, not both")
            for dst_list, src_list in zip(self.state_arrays, states):
                src_list = src_list if isinstance(src_list, (list, tuple)) else [src_list]
                for dst, src in zip(dst_list, src_list):
                    src.copyto(dst)
        else:
            if value is None:
                raise MXNetError("set_states: give states or value")
            for dst_list in self.state_arrays:
                for dst in dst_list:
                    dst[:] = value

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        for i, (exe, islice) in enumerate(zip(self.execs, self.slices)):
            if pre_sliced:
                labels_slice = labels[i]
            elif len(self.execs) == 1:
                labels_slice = labels
            else:
                # Metrics compute beside the predictions.
                labels_slice = [_batch_part(label, axis, islice) for label, axis
                                in zip(labels, self.label_layouts)]
                labels_slice = [lb.as_in_context(self.contexts[i])
                                if isinstance(lb, nd.NDArray) else lb for lb in labels_slice]
            eval_metric.update_dict(OrderedDict(zip(self.label_names, labels_slice)),
                                    OrderedDict(zip(self.output_names, exe.outputs)))

    def install_monitor(self, mon):
        for exe in self.execs:
            mon.install(exe)

    def __repr__(self) -> str:
        return f"<DataParallelExecutorGroup {len(self.execs)} executors on {self.contexts}>"


__all__ = ["DataParallelExecutorGroup"]

"""Malformed symbol JSON documents raise MXNetError at load_json / load, naming what is
wrong, instead of escaping as another exception or failing later in infer_shape."""
import copy
import json

import pytest

import flowmod as mx
from flowmod.base import MXNetError


def _doc():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, name="fc", num_hidden=3)
    return json.loads(mx.sym.SoftmaxOutput(fc, name="softmax").tojson())


def _edited(edit):
    doc = copy.deepcopy(_doc())
    edit(doc)
    return json.dumps(doc)


def _set(path, value):
    def edit(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


MALFORMED = [
    ("a list", "[1, 2]", "expected an object with 'nodes' and 'heads'"),
    ("no heads", '{"nodes": []}', "expected an object with 'nodes' and 'heads'"),
    ("nodes a number", _edited(_set(["nodes"], 5)), "'nodes' and 'heads' must be lists"),
    ("nodes a string", _edited(_set(["nodes"], "abc")), "'nodes' and 'heads' must be lists"),
    ("node a string", _edited(_set(["nodes", 0], "data")), r"node 0 is 'data'"),
    ("op a list", _edited(_set(["nodes", 0, "op"], [1])), "must be strings"),
    ("name a number", _edited(_set(["nodes", 0, "name"], 3)), "must be strings"),
    ("attrs a list", _edited(_set(["nodes", 3, "attrs"], ["x"])), "'attrs' is"),
    ("attribute an object", _edited(_set(["nodes", 3, "attrs", "num_hidden"], {"a": 1})),
     "attribute 'num_hidden'"),
    ("inputs a number", _edited(_set(["nodes", 3, "inputs"], 7)), "'inputs' is 7"),
    ("input entry short", _edited(_set(["nodes", 3, "inputs", 0], [0])), "input 0 is"),
    ("input entry a string", _edited(_set(["nodes", 3, "inputs", 0], "0")), "input 0 is"),
    ("input id a float", _edited(_set(["nodes", 3, "inputs", 0], [0.5, 0, 0])),
     "expected integers"),
    ("input of a later node", _edited(_set(["nodes", 3, "inputs", 0], [4, 0, 0])),
     "does not refer to an earlier node"),
    ("input output -1", _edited(_set(["nodes", 3, "inputs", 0], [0, -1, 0])),
     "asks for output -1 of node 0"),
    ("input output past the end", _edited(_set(["nodes", 3, "inputs", 0], [0, 1, 0])),
     "asks for output 1 of node 0"),
    ("negative version", _edited(_set(["nodes", 3, "inputs", 0], [0, 0, -2])),
     "negative version"),
    ("variable with inputs", _edited(_set(["nodes", 0, "inputs"], [[0, 0, 0]])),
     "a variable has no inputs"),
    ("heads a dict", _edited(_set(["heads"], {"a": 1})), "must be lists"),
    ("head output -1", _edited(_set(["heads"], [[5, -1, 0]])), "does not refer to a node"),
    ("head output past the end", _edited(_set(["heads"], [[5, 1, 0]])),
     "does not refer to a node"),
    ("head entry a number", _edited(_set(["heads"], [5])), "head 0 is 5"),
    ("unknown operator", _edited(_set(["nodes", 3, "op"], "NoSuchOp")), "not registered"),
    ("deeply nested", "[" * 100000 + "]" * 100000, "nested too deeply"),
    ("deeply nested attrs", '{"nodes": ' + "[" * 100000 + "]" * 100000 + ', "heads": []}',
     "nested too deeply"),
    ("not JSON", "{nodes", "not a symbol JSON document"),
]


@pytest.mark.parametrize("text,message", [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_document_raises_mxneterror_naming_the_problem(text, message):
    with pytest.raises(MXNetError, match=message):
        mx.sym.load_json(text)


def test_the_unedited_document_loads():
    assert mx.sym.load_json(json.dumps(_doc())).list_arguments() == [
        "data", "fc_weight", "fc_bias", "softmax_label"]


def test_load_of_a_missing_file_raises_mxneterror_naming_it(tmp_path):
    with pytest.raises(MXNetError, match="nope-symbol.json"):
        mx.sym.load(str(tmp_path / "nope-symbol.json"))


def test_load_of_a_malformed_file_raises_mxneterror(tmp_path):
    path = tmp_path / "bad-symbol.json"
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(MXNetError, match="not UTF-8"):
        mx.sym.load(str(path))


def test_load_json_of_a_non_string_raises_type_error():
    with pytest.raises(TypeError, match="json_str is int"):
        mx.sym.load_json(5)


def test_hidden_output_of_an_operator_is_a_valid_input():
    # BatchNorm has three outputs, one visible: an input may still name the others.
    data = mx.sym.Variable("data")
    bn = mx.sym.BatchNorm(data, name="bn")
    doc = json.loads(bn.tojson())
    bn_id = len(doc["nodes"]) - 1
    doc["nodes"].append({"op": "BlockGrad", "name": "mean", "inputs": [[bn_id, 1, 0]]})
    doc["heads"] = [[bn_id + 1, 0, 0]]
    loaded = mx.sym.load_json(json.dumps(doc))
    assert loaded.list_outputs() == ["mean_output"]

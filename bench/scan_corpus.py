# ruff: noqa: E402, E501, E702
"""Build the corpus bench/scanners.py compares the scanners on (run it with the scratch venv
that bench/scanners.py describes): malicious pickles (os.system, subprocess, builtins.eval/exec,
getattr/__import__ and memo gadgets, functools.partial, runpy), joblib, PyTorch-style zips,
Keras .keras and .h5 with a Lambda layer, and what MLflow's standard flavors write."""
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/h12scan/corpus")
shutil.rmtree(OUT, ignore_errors=True)
OUT.mkdir(parents=True)
mal = OUT / "malicious"; ben = OUT / "benign"
mal.mkdir(); ben.mkdir()

class OsSystem:
    def __reduce__(self):
        return (os.system, ("echo pwned-os",))
class Subproc:
    def __reduce__(self):
        return (subprocess.check_output, (["echo", "pwned"],))
class Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('echo pwned')",))
class Exec:
    def __reduce__(self):
        return (exec, ("import os; os.system('echo pwned')",))

def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)

# plain pickles, several protocols
for proto in (0, 2, 4, 5):
    write(mal / f"os_system_p{proto}.pkl", pickle.dumps({"model": OsSystem()}, protocol=proto))
write(mal / "subprocess.pkl", pickle.dumps([1, Subproc()]))
write(mal / "builtins_eval.pkl", pickle.dumps(Eval()))
write(mal / "builtins_exec.pkl", pickle.dumps(Exec()))
# hand-written gadgets: getattr chain via STACK_GLOBAL with memo indirection (evasion style)
# builtins.getattr(__import__('os'), 'system')('echo')
gadget = (b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00"
          b"\x8c\x08builtins\x94\x8c\x07getattr\x94\x93\x94"
          b"\x8c\x08builtins\x94\x8c\n__import__\x94\x93\x94\x8c\x02os\x94\x85\x94R\x94"
          b"\x8c\x06system\x94\x86\x94R\x94\x8c\x0becho pwned2\x94\x85\x94R\x94.")
write(mal / "getattr_import_gadget.pkl", gadget)
# memo-obfuscated STACK_GLOBAL: names via BINGET
memo_gadget = (b"\x80\x04\x8c\x05posix\x94\x8c\x06system\x94h\x00h\x01\x93\x94\x8c\x04echo\x94\x85\x94R\x94.")
write(mal / "memo_posix_system.pkl", memo_gadget)
# functools.partial gadget
import functools


class Partial:
    def __reduce__(self):
        return (functools.partial(os.system, "echo pwned"), ())
write(mal / "functools_partial.pkl", pickle.dumps(Partial()))
# runpy / webbrowser
import runpy


class Runpy:
    def __reduce__(self):
        return (runpy._run_code, ("print('pwned')", {}))
write(mal / "runpy.pkl", pickle.dumps(Runpy()))
# os.system hidden in an unusual extension (.bin with pickle bytes)
write(mal / "weights.bin", pickle.dumps(OsSystem()))
# no-extension file holding a pickle
write(mal / "noext_model", pickle.dumps(OsSystem()))

# joblib
import joblib
import numpy as np

joblib.dump({"a": np.arange(10), "evil": OsSystem()}, mal / "joblib_os.joblib")
joblib.dump({"a": np.arange(10), "evil": OsSystem()}, mal / "joblib_os_compressed.joblib", compress=3)

# torch-style zip archive (as torch.save writes): archive/data.pkl + archive/version + data/0
def torch_zip(path, payload):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
        z.writestr("archive/data/0", b"\0" * 64)
        z.writestr("archive/.data/serialization_id", "1234")
torch_zip(mal / "torch_os.pt", pickle.dumps({"state": OsSystem()}, protocol=2))
torch_zip(mal / "torch_os_ext.pth", pickle.dumps({"state": Eval()}, protocol=2))

# Keras v3 .keras zip with a Lambda layer
def keras_zip(path, lambda_layer):
    layers = [{"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 2]}}]
    if lambda_layer:
        layers.append({"module": "keras.layers", "class_name": "Lambda",
                       "config": {"name": "lambda", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAAAAAAAAEAAAAC", "defaults": None, "closure": None}}}})
    layers.append({"module": "keras.layers", "class_name": "Dense", "config": {"units": 1}})
    cfg = {"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": layers}}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(cfg))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        z.writestr("model.weights.h5", b"")
keras_zip(mal / "lambda.keras", True)
keras_zip(ben / "dense.keras", False)

# Keras h5 with Lambda layer (model_config attribute)
import h5py


def keras_h5(path, lambda_layer):
    layers = [{"class_name": "Dense", "config": {"units": 1}}]
    if lambda_layer:
        layers.insert(0, {"class_name": "Lambda", "config": {"function": ["4wEAAAAAAAAA", None, None], "function_type": "lambda"}})
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": layers}})
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.create_group("model_weights")
keras_h5(mal / "lambda.h5", True)
keras_h5(ben / "dense.h5", False)

# benign pickles
write(ben / "dict.pkl", pickle.dumps({"weights": list(range(100)), "name": "m"}))
write(ben / "numpy.pkl", pickle.dumps(np.arange(1000).reshape(10, 100)))
import collections

torch_zip(ben / "torch_state_dict.pt", pickle.dumps(collections.OrderedDict(a=1), protocol=2))

# MLflow standard flavors
import mlflow
import mlflow.pyfunc
import mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_iris(return_X_y=True, as_frame=True)

class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n):
        self.n = n
    def predict(self, context, model_input, params=None):
        return model_input.apply(lambda column: column + self.n)

import pandas as pd

inp = pd.DataFrame({"x": [1.0, 2.0]})
mlflow.pyfunc.save_model(str(ben / "mlflow_pyfunc_quickstart"), python_model=AddN(5),
                         signature=infer_signature(inp, AddN(5).predict(None, inp)))
lr = LogisticRegression(max_iter=500).fit(X, y)
mlflow.sklearn.save_model(lr, str(ben / "mlflow_sklearn_lr"), signature=infer_signature(X, lr.predict(X)))
pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5)).fit(X, y)
mlflow.sklearn.save_model(pipe, str(ben / "mlflow_sklearn_pipeline"), signature=infer_signature(X, pipe.predict(X)), skops_trusted_types=["sklearn.tree._tree.Tree"])
mlflow.sklearn.save_model(lr, str(ben / "mlflow_sklearn_pickle_format"), serialization_format="pickle")
mlflow.sklearn.save_model(pipe, str(ben / "mlflow_sklearn_cloudpickle_format"), serialization_format="cloudpickle")
print("corpus in", OUT)
for p in sorted(OUT.rglob("*")):
    if p.is_file():
        print(p.relative_to(OUT), p.stat().st_size)

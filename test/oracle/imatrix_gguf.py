"""The imatrix GGUF format through llama.cpp's own gguf-py.

usage: imatrix_gguf.py GGUF_PY_DIR read FILE
         prints JSON: general.type, the imatrix.* keys, and per tensor its
         name, shape (ggml order) and values
       imatrix_gguf.py GGUF_PY_DIR write FILE
         writes a small imatrix as llama.cpp's imatrix tool lays it out
         (keys, then per weight NAME.in_sum2 [ncols, nmat] and NAME.counts
         [1, nmat], F32) for kiln to read
"""
import json
import sys

sys.path.insert(0, sys.argv[1])
import numpy as np  # noqa: E402
from gguf import GGUFReader, GGUFWriter  # noqa: E402

mode, path = sys.argv[2], sys.argv[3]
if mode == "read":
    r = GGUFReader(path)
    def val(k):
        f = r.fields[k]
        if len(f.types) > 1:  # array of strings
            return [bytes(f.parts[i]).decode() for i in f.data]
        v = f.parts[f.data[0]]
        return bytes(v).decode() if f.types[0] == 8 else int(v[0])
    out = {
        "type": val("general.type"),
        "datasets": val("imatrix.datasets"),
        "chunk_count": val("imatrix.chunk_count"),
        "chunk_size": val("imatrix.chunk_size"),
        "tensors": [
            {"name": t.name, "shape": [int(x) for x in t.shape], "type": int(t.tensor_type), "values": [float(x) for x in np.asarray(t.data).reshape(-1)]}
            for t in r.tensors
        ],
    }
    print(json.dumps(out))
else:
    w = GGUFWriter(path, arch=None)
    w.add_string("general.type", "imatrix")
    w.add_array("imatrix.datasets", ["calibration.txt"])
    w.add_uint32("imatrix.chunk_count", 3)
    w.add_uint32("imatrix.chunk_size", 512)
    # a dense weight (one matrix) and an expert weight (two matrices, one unused)
    w.add_tensor("blk.0.attn_q.weight.in_sum2", np.arange(1, 257, dtype=np.float32).reshape(1, 256) * 3)
    w.add_tensor("blk.0.attn_q.weight.counts", np.array([[3]], dtype=np.float32))
    w.add_tensor("blk.0.ffn_up_exps.weight.in_sum2", np.full((2, 32), 8, dtype=np.float32))
    w.add_tensor("blk.0.ffn_up_exps.weight.counts", np.array([[4], [0]], dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

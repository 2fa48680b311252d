"""Dequantizes every tensor of a GGUF file with llama.cpp's own gguf-py (an
independent decoder of the formats) and writes them as raw little-endian
float32, one after another, plus a JSON index on stdout.

usage: gguf_dequant.py GGUF_PY_DIR MODEL.gguf OUT.bin
"""
import json
import sys

sys.path.insert(0, sys.argv[1])
import numpy as np  # noqa: E402
from gguf import GGUFReader  # noqa: E402
from gguf.quants import dequantize  # noqa: E402

reader = GGUFReader(sys.argv[2])
index = []
offset = 0
with open(sys.argv[3], "wb") as out:
    for t in reader.tensors:
        values = dequantize(t.data, t.tensor_type).astype("<f4").reshape(-1)
        out.write(values.tobytes())
        index.append({"name": t.name, "type": int(t.tensor_type), "count": int(values.size), "offset": offset})
        offset += values.size * 4
print(json.dumps(index))

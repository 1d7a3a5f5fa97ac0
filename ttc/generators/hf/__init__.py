"""The HF transformers engine, one package: the model and its public surface (model: load, encode, prefill, stop
detection, card), batch layout (batch), the in-place KV cache (cache), seeded sampling (sampling), the decode loop
(decode) and its records (records), cross-call prefix reuse (prefix), branch scoring (tail, branches), reads of the
model's distribution (reads), beam search (beam), and the generator that puts them together (engine: HFGenerator).
Modules import one way: engine -> decode/branches/reads/beam -> prefix/records -> model -> batch/tail.
"""

from ttc.generators.hf.batch import token_chunks
from ttc.generators.hf.engine import HFGenerator
from ttc.generators.hf.model import HFModel, default_threads, follow_up

__all__ = ["HFGenerator", "HFModel", "default_threads", "follow_up", "token_chunks"]

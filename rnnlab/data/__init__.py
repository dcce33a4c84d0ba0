"""The data layer: files, vocabularies and batches.

- `textfile.read_text`: a UTF-8 file or a directory of them, with one-line errors.
- `vocab.CharVocab`, `wordvocab.WordVocab`: characters / words <-> int64 ids, versioned JSON.
- `streams`: contiguous-stream batching for truncated BPTT (char LM), batch-first (B, T), with
  a (rank, world_size) share per process; NumPy inside, torch tensors from `StreamBatcher`.
- `padding`: padded batches and the length-bucketed sampler of the padded-batch tasks.
- `classification`, `conllu_io`, `tagging`: readers and batches of the classifier and tagger.
- `corpus.load_corpus`: `--data FILE|DIR`, `--dataset NAME` or the built-in Shakespeare corpus.

Modules import torch only where they make tensors (`padding`, `tagging`, and `streams` when it
converts a window), so reading text or a vocabulary stays torch-free.
"""

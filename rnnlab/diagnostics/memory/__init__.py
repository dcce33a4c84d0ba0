"""Training-memory estimate of a recurrent model: parameters, gradients, optimizer state and the
activations autograd keeps for the backward pass, for a batch size, sequence length and precision.
It models the CPU kernels (oneDNN LSTM, PyTorch's native RNN/GRU loop); on a CUDA device cuDNN
keeps a different reserve space, and only the fixed costs are the same.

One job per module, each with its formulas in its docstring: `estimate` (fixed costs, the peak,
`estimate_training_memory`), `activations` (the symbolic forward pass), `onednn` (oneDNN's LSTM
workspace layout), `result` (rows, phases, table) and `measure` (the step run and measured).
They change for different reasons (a kernel's layout, a new layer, the profiler) and are tested
apart. Import from the modules; all but `measure` are torch-free, like rnnlab.diagnostics.params.
"""

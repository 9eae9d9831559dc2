"""What each layer and op argument means, in one sentence after torch's own documentation.

An argument's description is its :attr:`Arg.doc` when the registry gives one (written where the
meaning is particular to that layer or op), else the entry of :data:`ARG_DOCS` for its name.  The
JSON Schema (``schemas/netspec.schema.json``) shows it on hover; a test checks that every built-in
argument has one.
"""

from __future__ import annotations

from ._core import Arg

ARG_DOCS: dict[str, str] = {
    # convolutions
    "in_channels": "Number of channels in the input image (inferred from the input when left out).",
    "out_channels": "Number of channels produced by the convolution.",
    "kernel_size": "Size of the convolving kernel: one int for every spatial dim, or one per dim.",
    "stride": "Stride of the convolution.",
    "padding": "Padding added to all sides of the input: an int, one per spatial dim, or 'same' / 'valid'.",
    "dilation": "Spacing between kernel elements.",
    "groups": "Number of blocked connections from input channels to output channels; both must divide by it.",
    "bias": "If true, adds a learnable bias to the output.",
    "padding_mode": "How the input is padded: 'zeros', 'reflect', 'replicate' or 'circular'.",
    "output_padding": "Additional size added to one side of each dimension in the output shape.",
    # linear and embedding
    "in_features": "Size of each input sample (inferred from the input's last dim when left out).",
    "out_features": "Size of each output sample.",
    "in1_features": "Size of each first input sample (inferred from the first input when left out).",
    "in2_features": "Size of each second input sample (inferred from the second input when left out).",
    "num_embeddings": "Size of the dictionary of embeddings.",
    "embedding_dim": "The size of each embedding vector.",
    "padding_idx": "If given, the entries at padding_idx do not contribute to the gradient.",
    "max_norm": "If given, each embedding vector with norm larger than max_norm is renormalized to max_norm.",
    "norm_type": "The p of the p-norm to compute for the max_norm option.",
    "scale_grad_by_freq": "If true, scales gradients by the inverse frequency of the words in the mini-batch.",
    "sparse": "If true, the gradient with respect to the weight matrix is a sparse tensor.",
    # normalization
    "num_features": "Number of features or channels C of the input (inferred from the input when left out).",
    "eps": "A value added to the denominator for numerical stability.",
    "momentum": "The value used for the running_mean and running_var computation; null for a cumulative "
                "moving average.",
    "affine": "If true, the module has learnable affine parameters (weight and bias).",
    "track_running_stats": "If true, the module tracks the running mean and variance; if false, it uses batch "
                           "statistics in both training and eval modes.",
    "normalized_shape": "Input shape from an expected input of that size: the trailing dims normalized over "
                        "(inferred from the input's last dim when left out).",
    "elementwise_affine": "If true, the module has learnable per-element affine parameters (weight, and bias "
                          "unless bias is false).",
    "num_groups": "Number of groups to separate the channels into.",
    "num_channels": "Number of channels expected in the input (inferred from the input when left out).",
    # pooling
    "ceil_mode": "If true, uses ceil instead of floor to compute the output shape.",
    "count_include_pad": "If true, includes the zero-padding in the averaging calculation.",
    "divisor_override": "If given, it is used as the divisor; otherwise the size of the pooling region is used.",
    "return_indices": "If true, the call returns (output, indices), to unpack (`y, i = pool(x)`); MaxUnpool takes "
                      "the indices back.",
    "output_size": "The target output size: one int for every spatial dim, or one per dim (null keeps the "
                   "input's size).",
    # activations
    "inplace": "If true, does the operation in-place.",
    "negative_slope": "Controls the angle of the negative slope (used for negative input values).",
    "approximate": "The gelu approximation algorithm to use: 'none' or 'tanh'.",
    "alpha": "The alpha value for the ELU / CELU formulation.",
    "beta": "The beta value for the Softplus formulation.",
    "threshold": "Values above this revert to a linear function.",
    "min_val": "Minimum value of the linear region range.",
    "max_val": "Maximum value of the linear region range.",
    "num_parameters": "Number of a to learn: 1, or the number of channels of the input.",
    "init": "The initial value of a.",
    # attention
    "embed_dim": "Total dimension of the model (inferred from the query when left out).",
    "num_heads": "Number of parallel attention heads; embed_dim is split across them.",
    "dropout": "Dropout probability on attn_output_weights.",
    "add_bias_kv": "If true, adds bias to the key and value sequences at dim 0.",
    "add_zero_attn": "If true, adds a new batch of zeros to the key and value sequences at dim 1.",
    "kdim": "Total number of features for keys (null uses embed_dim).",
    "vdim": "Total number of features for values (null uses embed_dim).",
    "batch_first": "If true, the input and output tensors are (batch, seq, feature); else (seq, batch, feature).",
    # recurrent
    "input_size": "The number of expected features in the input x (inferred from the input's last dim when left "
                  "out).",
    "hidden_size": "The number of features in the hidden state h.",
    "bidirectional": "If true, the layer runs over the sequence in both directions: output has 2 * the hidden "
                     "features, h_n 2 * num_layers rows.",
    "proj_size": "If above 0, an LSTM with projections of this size: h (and each direction's output) has "
                 "proj_size features.",
    # transformer
    "d_model": "The number of expected features in the input (inferred from the input's last dim when left out).",
    "nhead": "The number of heads in the multi-head attention models; d_model is split across them.",
    "dim_feedforward": "The dimension of the feed-forward network model.",
    "layer_norm_eps": "The eps value in the layer normalization components.",
    "norm_first": "If true, layer norm is done prior to the attention and feed-forward operations (pre-norm); "
                  "else after them.",
    "num_encoder_layers": "The number of sub-encoder-layers in the encoder.",
    "num_decoder_layers": "The number of sub-decoder-layers in the decoder.",
    "enable_nested_tensor": "If true, the encoder converts a padded input to a nested tensor on its eval fast path "
                            "(with src_key_padding_mask); torch warns at construction when that path cannot run.",
    "mask_check": "If true, the nested-tensor fast path checks that the padding mask is left-aligned.",
    # dropout
    "p": "Probability of an element to be zeroed.",
    # shapes and reductions
    "dim": "The dimension the operation works along.",
    "start_dim": "First dim to flatten.",
    "end_dim": "Last dim to flatten.",
    "unflattened_size": "New shape of the unflattened dimension.",
    "keepdim": "Whether the output tensor has dim retained or not.",
    "dim0": "The first dimension to be transposed.",
    "dim1": "The second dimension to be transposed.",
    "dims": "The desired ordering of dimensions.",
    "shape": "The new shape; one dim may be -1, inferred from the others.",
    "index": "The index to select with.",
    "chunks": "Number of chunks to return.",
    "split_size_or_sections": "Size of a single chunk, or a list of sizes for each chunk.",
    "start": "Index of the element to start the narrowed dimension from.",
    "length": "Length of the narrowed dimension.",
    "size": "The desired size.",
    # upsampling
    "scale_factor": "Multiplier for spatial size.",
    "mode": "The upsampling algorithm: 'nearest', 'linear', 'bilinear', 'bicubic' or 'trilinear'.",
    "align_corners": "If true, the corner pixels of the input and output tensors are aligned, preserving their "
                     "values; only for the linear modes.",
    "recompute_scale_factor": "Recompute the scale_factor for use in the interpolation calculation.",
    # pixel shuffles
    "upscale_factor": "Factor to increase spatial resolution by.",
    "downscale_factor": "Factor to reduce spatial resolution by.",
    # more activations
    "lambd": "The lambda value for the shrinkage formulation.",
    "lower": "Lower bound of the uniform distribution the negative slope is drawn from.",
    "upper": "Upper bound of the uniform distribution the negative slope is drawn from.",
    "value": "The value to replace with.",
}


def arg_doc(arg: Arg) -> str:
    """The argument's description: its own doc, or the common one for its name ("" if neither)."""
    return arg.doc or ARG_DOCS.get(arg.name, "")

"""sae_ref.py: independent references for the SAE evaluation / exchange tests, written from the
published specs, not from monoscope's C code.

  write_safetensors(path, tensors, metadata=None, dtypes=None)
      The safetensors format: u64 little-endian header length N, N bytes of JSON
      {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the
      raw little-endian tensor bytes (offsets relative to the end of the header).
  read_safetensors(path) -> {name: np.ndarray (float32 for F32/F16/BF16)}, metadata
  write_saelens_dir(dir, params, cfg, dtype="F32")
      A directory as SAELens' SAE.save_model writes it: cfg.json + sae_weights.safetensors.
  saelens_cfg(style, arch, d_in, d_sae, ...) -> dict
      cfg.json in one of the layouts found in the wild:
        "v6":     SAELens >= 6 (SAEConfig.to_dict: architecture, k top-level, "metadata" sub-dict)
        "v5":     SAELens 4/5 (hook_name, hook_layer, activation_fn_str, activation_fn_kwargs {"k"})
        "jbloom": the 2024 GPT-2-small residual SAEs (jbloom/GPT2-Small-SAEs-Reformatted):
                  hook_point, hook_point_layer, no architecture / apply_b_dec_to_input keys,
                  "dtype": "torch.float32", expansion_factor 32, d_sae 24576 at full size.
  torch_encode(params, x, arch, k=None, apply_b_dec_to_input=True, rescale=False)
      SAELens inference semantics (saes/standard_sae.py, topk_sae.py, jumprelu_sae.py):
        sae_in = x - b_dec * apply_b_dec_to_input
        pre = sae_in @ W_enc + b_enc;  rescale_acts_by_decoder_norm: pre *= |W_dec rows|
        standard: relu(pre); topk: topk(pre, k) then relu, others 0;
        jumprelu: relu(pre) * (pre > relu(threshold))
  write_acts(path, hook, acts, tokens=None): an activations file as `monoscope capture` writes it.
"""
import json, os, struct
import numpy as np

_NP = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def _to_bytes(a, dt):
    a = np.ascontiguousarray(a)
    if dt in _NP:
        return a.astype(_NP[dt]).astype("<" + np.dtype(_NP[dt]).str[1:]).tobytes()
    if dt == "F16":
        return a.astype("<f2").tobytes()
    if dt == "BF16":  # round to nearest even, through torch (an independent converter)
        import torch
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(torch.bfloat16)
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    raise ValueError(dt)


def write_safetensors(path, tensors, metadata=None, dtypes=None, pad_to=8):
    dtypes = dtypes or {}
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        dt = dtypes.get(name, "F32")
        b = _to_bytes(np.asarray(a), dt)
        header[name] = {"dtype": dt, "shape": list(np.shape(a)), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header).encode()
    h += b" " * ((-len(h)) % pad_to)  # the reference writer pads the header with spaces to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path, raw=False):
    """{name: array}. raw=True returns the bytes of each tensor instead (for exact comparisons)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, h in header.items():
        b0, b1 = h["data_offsets"]
        blob = data[8 + n + b0: 8 + n + b1]
        if raw:
            out[name] = (h["dtype"], tuple(h["shape"]), blob)
            continue
        dt = h["dtype"]
        if dt == "F16":
            a = np.frombuffer(blob, "<f2").astype(np.float32)
        elif dt == "BF16":
            a = (np.frombuffer(blob, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(blob, "<" + np.dtype(_NP[dt]).str[1:])
        out[name] = a.reshape(h["shape"])
    return out, meta


def saelens_cfg(style, arch, d_in, d_sae, k=None, hook="blocks.0.hook_resid_pre", model="gpt2-small",
                apply_b_dec_to_input=True, rescale=False, normalize="none", dtype="float32"):
    layer = int(hook.split(".")[1]) if hook.startswith("blocks.") else 0
    if style == "v6":
        cfg = {"d_in": d_in, "d_sae": d_sae, "dtype": dtype, "device": "cpu",
               "apply_b_dec_to_input": apply_b_dec_to_input, "normalize_activations": normalize,
               "reshape_activations": "none",
               "metadata": {"sae_lens_version": "6.5.1", "sae_lens_training_version": "6.5.1",
                            "model_name": model, "hook_name": hook, "hook_head_index": None,
                            "prepend_bos": True, "context_size": 128},
               "architecture": arch}
        if arch == "topk":
            cfg["k"] = k
            cfg["rescale_acts_by_decoder_norm"] = rescale
        return cfg
    if style == "v5":
        cfg = {"architecture": arch, "d_in": d_in, "d_sae": d_sae, "activation_fn_str": "topk" if arch == "topk" else "relu",
               "apply_b_dec_to_input": apply_b_dec_to_input, "finetuning_scaling_factor": False,
               "context_size": 128, "model_name": model, "hook_name": hook, "hook_layer": layer,
               "hook_head_index": None, "prepend_bos": True, "dataset_path": "Skylion007/openwebtext",
               "dataset_trust_remote_code": True, "normalize_activations": normalize, "dtype": dtype,
               "device": "cpu", "sae_lens_training_version": "5.3.0", "activation_fn_kwargs": {},
               "neuronpedia_id": None, "model_from_pretrained_kwargs": {}}
        if arch == "topk":
            cfg["activation_fn_kwargs"] = {"k": k}
        return cfg
    if style == "jbloom":  # no architecture, no apply_b_dec_to_input, hook_point: the pre-3.0 keys
        assert arch == "standard"
        return {"model_name": model, "hook_point": hook, "hook_point_layer": layer, "hook_point_head_index": None,
                "dataset_path": "Skylion007/openwebtext", "is_dataset_tokenized": False, "context_size": 128,
                "use_cached_activations": False, "cached_activations_path": "activations/x", "d_in": d_in,
                "n_batches_in_buffer": 128, "total_training_tokens": 300000000, "store_batch_size": 32,
                "device": "mps", "seed": 42, "dtype": "torch.float32", "b_dec_init_method": "geometric_median",
                "expansion_factor": d_sae // d_in, "from_pretrained_path": None, "l1_coefficient": 8e-05,
                "lr": 0.0004, "lr_scheduler_name": None, "lr_warm_up_steps": 5000, "train_batch_size": 4096,
                "use_ghost_grads": False, "feature_sampling_window": 1000, "feature_sampling_method": None,
                "resample_batches": 1028, "feature_reinit_scale": 0.2, "dead_feature_window": 5000,
                "dead_feature_estimation_method": "no_re_init", "dead_feature_threshold": 1e-08,
                "log_to_wandb": True, "wandb_project": "mats_sae_training_gpt2_small_resid_pre_5",
                "wandb_entity": None, "wandb_log_frequency": 100, "n_checkpoints": 10,
                "checkpoint_path": "checkpoints/y1t51byy", "d_sae": d_sae, "tokens_per_buffer": 67108864,
                "run_name": f"{d_sae}-L1-8e-05-LR-0.0004-Tokens-3.000e+08"}
    raise ValueError(style)


def write_saelens_dir(d, params, cfg, dtype="F32", extra=None):
    os.makedirs(d, exist_ok=True)
    tensors = {n: params[n] for n in ("W_enc", "W_dec", "b_enc", "b_dec", "threshold") if params.get(n) is not None}
    if extra:
        tensors.update(extra)
    write_safetensors(os.path.join(d, "sae_weights.safetensors"), tensors, dtypes={n: dtype for n in tensors})
    with open(os.path.join(d, "cfg.json"), "w") as f:
        json.dump(cfg, f)


def quantize(a, dtype):
    """What a float32 array becomes after a round trip through dtype (to compare like with like)."""
    if dtype == "F32":
        return np.asarray(a, np.float32)
    if dtype == "F16":
        return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)
    import torch
    return torch.from_numpy(np.asarray(a, np.float32)).to(torch.bfloat16).to(torch.float32).numpy()


def random_params(rng, d_in, d_sae, arch, scale=1.0):
    p = {"W_enc": rng.standard_normal((d_in, d_sae)).astype(np.float32) / np.sqrt(d_in) * scale,
         "W_dec": rng.standard_normal((d_sae, d_in)).astype(np.float32) / np.sqrt(d_in),
         "b_enc": (rng.standard_normal(d_sae) * 0.1).astype(np.float32),
         "b_dec": (rng.standard_normal(d_in) * 0.1).astype(np.float32)}
    if arch in ("jumprelu", "batchtopk"):
        p["threshold"] = np.abs(rng.standard_normal(d_sae) * 0.3).astype(np.float32)
    return p


def torch_encode(params, x, arch, k=None, apply_b_dec_to_input=True, rescale=False):
    """(N, d_in) -> (feature acts (N, d_sae), pre-activations (N, d_sae)) in float64."""
    import torch
    P = {n: torch.as_tensor(np.asarray(v), dtype=torch.float64) for n, v in params.items() if v is not None}
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    sae_in = x - P["b_dec"] * float(apply_b_dec_to_input)
    pre = sae_in @ P["W_enc"] + P["b_enc"]
    if rescale:
        pre = pre * P["W_dec"].norm(dim=-1)
    if arch == "standard":
        f = torch.relu(pre)
    elif arch == "topk":
        v, i = torch.topk(pre, k, dim=-1)
        f = torch.zeros_like(pre).scatter(-1, i, torch.relu(v))
    elif arch == "jumprelu":
        f = torch.relu(pre) * (pre > torch.relu(P["threshold"])).to(pre)
    else:
        raise ValueError(arch)
    return f.numpy(), pre.numpy()


def torch_decode(params, f, rescale=False):
    import torch
    W = torch.as_tensor(np.asarray(params["W_dec"]), dtype=torch.float64)
    f = torch.as_tensor(np.asarray(f), dtype=torch.float64)
    if rescale:
        f = f / W.norm(dim=-1)
    return (f @ W + torch.as_tensor(np.asarray(params["b_dec"]), dtype=torch.float64)).numpy()


def write_acts(path, hook, acts, tokens=None, dtype=np.float32):
    import h5py
    acts = np.asarray(acts)
    n_seq, ctx = acts.shape[:2]
    if tokens is None:
        tokens = (np.arange(n_seq * ctx) % 50).astype(np.int32).reshape(n_seq, ctx)
    with h5py.File(path, "w") as f:
        f.create_dataset("tokens", data=np.asarray(tokens, np.int32))
        f.create_dataset("acts/" + hook, data=acts.astype(dtype))
        f.attrs["n_seq"] = n_seq
        f.attrs["ctx"] = ctx
        f.attrs["hooks"] = hook
        f.attrs["model"] = "synthetic"


def csr_to_dense(indptr, indices, values, d_sae):
    n = len(indptr) - 1
    out = np.zeros((n, d_sae), np.float64)
    for t in range(n):
        a, b = indptr[t], indptr[t + 1]
        out[t, indices[a:b]] = values[a:b]
    return out

#!/usr/bin/env bash
# make_seeds.sh BIN OUT: the seed corpora of the fuzz harnesses, one directory per reader under OUT,
# written by the project's own writers through the CLI BIN (random-model in three formats, capture,
# sae train / eval / export, tokenizer train). The two formats monoscope only reads (tokenizer.json,
# llama2.c tokenizer.bin) and the sharded index are assembled here from the writers' outputs. Seeds
# are a few KB each and generated, never committed.
set -euo pipefail
BIN=$1
OUT=$2
W=$OUT/.work
rm -rf "$OUT"
mkdir -p "$W"
for r in safetensors st_index hf_config tokenizer_json vocab_merges gguf llama2c tokenizer_bin capture_input concept_rules \
         probe_h5 labels_h5 acts_h5 sae_h5 saelens h5_struct; do
  mkdir -p "$OUT/$r"
done
export MONOSCOPE_NO_PROGRESS=1 OMP_NUM_THREADS=1
small="--layers 1 --d-model 8 --heads 2 --d-mlp 16 --vocab 300 --ctx 16 --seed 1"
"$BIN" random-model --arch gpt2 $small --out "$W/gpt2" >/dev/null
"$BIN" random-model --arch llama $small --kv-heads 1 --dtype bf16 --out "$W/llama" >/dev/null
"$BIN" random-model --arch llama $small --kv-heads 1 --format gguf --out "$W/r.gguf" >/dev/null
"$BIN" random-model --arch gpt2 $small --dtype f16 --format gguf --out "$W/g.gguf" >/dev/null
"$BIN" random-model --arch llama $small --format llama2c --out "$W/r.bin" >/dev/null

cp "$W/gpt2/model.safetensors" "$OUT/safetensors/gpt2_f32.safetensors"
cp "$W/llama/model.safetensors" "$OUT/safetensors/llama_bf16.safetensors"
cp "$W/gpt2/config.json" "$OUT/hf_config/gpt2.json"
cp "$W/llama/config.json" "$OUT/hf_config/llama.json"
cp "$W/r.gguf" "$OUT/gguf/llama_f32.gguf"
cp "$W/g.gguf" "$OUT/gguf/gpt2_f16.gguf"
cp "$W/r.bin" "$OUT/llama2c/llama.bin"
sep=$'\n#=== merges.txt ===#\n'   # fuzz_vocab_merges.c's FUZZ_SEP
{ cat "$W/gpt2/vocab.json"; printf '%s' "$sep"; cat "$W/gpt2/merges.txt"; } > "$OUT/vocab_merges/random.txt"

# a tokenizer trained by `tokenizer train` on a few lines of mixed text
printf '%s\n' '{"text": "the cat sat on the mat, the dog sat on the log"}' \
  '{"text": "caf\u00e9 na\u00efve \u65e5\u672c\u8a9e 123 456 \ud83d\ude00 end\r\nline"}' > "$W/corpus.jsonl"
"$BIN" tokenizer train --corpus "$W/corpus.jsonl" --vocab 280 --out "$W/trained" >/dev/null 2>&1
{ cat "$W/trained/vocab.json"; printf '%s' "$sep"; cat "$W/trained/merges.txt"; } > "$OUT/vocab_merges/trained.txt"

# activations: one hook f32, two hooks (one an attention pattern) f16 with padding, and their SAEs
printf 'the cat sat on the mat. the dog sat on the log. ' > "$W/text.txt"
for i in 1 2 3; do cat "$W/text.txt" "$W/text.txt" > "$W/t2" && mv "$W/t2" "$W/text.txt"; done
"$BIN" capture --model "$W/gpt2" --input "$W/text.txt" --hooks blocks.0.hook_resid_post --ctx 8 \
  --max-tokens 64 --compress 1 --out "$W/acts.h5" >/dev/null 2>&1
"$BIN" capture --model "$W/gpt2" --input "$W/text.txt" --hooks blocks.0.hook_resid_post,blocks.0.attn.hook_pattern \
  --ctx 6 --max-tokens 40 --dtype f16 --prepend-bos --compress 1 --out "$W/acts2.h5" >/dev/null 2>&1
cp "$W/acts.h5" "$OUT/acts_h5/one_hook.h5"
cp "$W/acts2.h5" "$OUT/acts_h5/two_hooks_f16.h5"
"$BIN" sae train --acts "$W/acts.h5" --hook blocks.0.hook_resid_post --d-sae 16 --k 2 --batch 16 \
  --out "$W/sae.h5" >/dev/null 2>&1
"$BIN" sae train --acts "$W/acts.h5" --hook blocks.0.hook_resid_post --arch jumprelu --d-sae 8 --batch 16 \
  --out "$W/sae_j.h5" >/dev/null 2>&1
cp "$W/sae_j.h5" "$OUT/sae_h5/jumprelu.h5"
"$BIN" sae eval --sae "$W/sae.h5" --acts "$W/acts.h5" >/dev/null 2>&1
cp "$W/sae.h5" "$OUT/sae_h5/topk_eval.h5"
"$BIN" sae export --sae "$W/sae.h5" --format saelens --out "$W/saelens" >/dev/null
"$BIN" sae export --sae "$W/sae_j.h5" --format saelens --out "$W/saelens_j" >/dev/null
cp "$W/saelens/cfg.json" "$OUT/saelens/topk.json"
cp "$W/saelens_j/cfg.json" "$OUT/saelens/jumprelu.json"
cp "$W/saelens/sae_weights.safetensors" "$OUT/safetensors/saelens.safetensors"

# concept labels and probes on the one-hook capture (same input and windows), ridge and logistic
"$BIN" concepts label --model "$W/gpt2" --input "$W/text.txt" --ctx 8 --out "$W/labels.h5" >/dev/null 2>&1
printf '%s\n' '{"text": "The Cat sat on 12 mats (in Paris)."}' '{"text": "NASA \"quoted\" caf\u00e9 // note"}' > "$W/docs.jsonl"
"$BIN" concepts label --model "$W/gpt2" --input "$W/docs.jsonl" -f jsonl --ctx 6 --prepend-bos --pack \
  --out "$W/labels2.h5" >/dev/null 2>&1
cp "$W/labels.h5" "$OUT/labels_h5/text_default_rules.h5"
cp "$W/labels2.h5" "$OUT/labels_h5/jsonl_packed.h5"
"$BIN" probe train --acts "$W/acts.h5" --labels "$W/labels.h5" --concept capitalised --out "$W/ridge.h5" >/dev/null 2>&1 || true
"$BIN" probe train --acts "$W/acts.h5" --labels "$W/labels.h5" --logistic --max-iter 3 --out "$W/logistic.h5" >/dev/null 2>&1
[ -f "$W/ridge.h5" ] && cp "$W/ridge.h5" "$OUT/probe_h5/ridge_one.h5"
cp "$W/logistic.h5" "$OUT/probe_h5/logistic_all.h5"

# capture inputs: fuzz_capture_input.c's two setting bytes, then the file
printf '\x00\x07%s' "$(head -c 300 "$W/text.txt")" > "$OUT/capture_input/text.bin"
printf '\x35\x05%s' "$(cat "$W/docs.jsonl")" > "$OUT/capture_input/jsonl_bos_chunked.bin"
printf '\x4a\x04%s' "$(printf '1 2 3 4 5\n\n7 8\r\n299 0 12\n')" > "$OUT/capture_input/ids_resume.bin"
printf '\x08\x0f%s' "$(printf 'caf\xc3\xa9 \xe6\x97\xa5\n\nline two\r\n')" > "$OUT/capture_input/text_packed_utf8.bin"
# concept rules: the built-in set's shapes (groups, classes, alternation, lazy) and a backtracker
cat > "$OUT/concept_rules/rules.json" <<'JSON'
{"digits": "\\d+", "all_caps": "\\b\\p{Lu}{2,}\\b", "in_parens": "\\(([^()]*)\\)",
 "lazy": "/\\*[\\s\\S]*?\\*/|//[^\\n]*", "kw": "\\b(?:if|for|while)\\b", "empty": "x*"}
JSON
printf '%s' '{"redos": "(a+)+$", "look": "(?<=a)b(?=c)", "u": "\\x{65e5}"}' > "$OUT/concept_rules/hostile.json"

# formats monoscope reads but does not write, from the writers' vocabulary
/usr/bin/python3 - "$W" "$OUT" <<'PY'
import json, struct, sys
w, out = sys.argv[1], sys.argv[2]
vocab = json.load(open(f"{w}/gpt2/vocab.json", encoding="utf-8"))
merges = [l for l in open(f"{w}/gpt2/merges.txt", encoding="utf-8").read().split("\n")[1:] if l]
eot = max(vocab.values())
tok = {"version": "1.0", "added_tokens": [{"id": eot, "content": "<|endoftext|>", "special": True}],
       "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
       "post_processor": None, "decoder": {"type": "ByteLevel"},
       "model": {"type": "BPE", "vocab": vocab, "merges": merges}}
json.dump(tok, open(f"{out}/tokenizer_json/gpt2.json", "w"), ensure_ascii=False)
tok["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}| ?\\p{L}+|\\s+"}, "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}
tok["model"]["merges"] = [m.split(" ") for m in merges]
json.dump(tok, open(f"{out}/tokenizer_json/split_pairs.json", "w"), ensure_ascii=False)
# SentencePiece-style: Metaspace, byte fallback
pieces = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + ["\u2581", "\u2581t", "he", "\u2581the"]
spm = {"version": "1.0", "added_tokens": [{"id": 1, "content": "<s>", "special": True},
                                          {"id": 2, "content": "</s>", "special": True}],
       "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                          {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
       "pre_tokenizer": None, "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]},
       "model": {"type": "BPE", "byte_fallback": True, "unk_token": "<unk>", "vocab": {p: i for i, p in enumerate(pieces)},
                 "merges": ["\u2581 t", "h e", "\u2581t he"]}}
json.dump(spm, open(f"{out}/tokenizer_json/spm.json", "w"), ensure_ascii=False)
# llama2.c tokenizer.bin: int32 max_token_length, then per token float score, int32 length, bytes
with open(f"{out}/tokenizer_bin/spm.bin", "wb") as f:
    enc = [p.replace("\u2581", " ").encode() if not p.startswith("<0x") else p.encode() for p in pieces]
    f.write(struct.pack("<i", max(len(e) for e in enc)))
    for i, e in enumerate(enc):
        f.write(struct.pack("<fi", -float(i), len(e)) + e)
# a sharded index naming the harness's single shard for every tensor of a one-layer GPT-2
raw = open(f"{w}/gpt2/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
names = [k for k in json.loads(raw[8:8 + n]) if k != "__metadata__"]
shard = "model-00001-of-00001.safetensors"
json.dump({"metadata": {"total_size": len(raw)}, "weight_map": {k: shard for k in names}},
          open(f"{out}/st_index/one_shard.json", "w"), indent=1)
# structure-aware HDF5: all-expected files of each format, a few varied recipes, and probe and labels
# files whose groups hold second names for their objects
open(f"{out}/h5_struct/acts_expected", "wb").write(bytes(64))
open(f"{out}/h5_struct/sae_expected", "wb").write(bytes([1]) + bytes(96))
open(f"{out}/h5_struct/acts_mixed", "wb").write(bytes([0, 3, 5, 7, 200, 0, 180, 0, 0, 3] + [150, 0, 170, 250] * 20))
open(f"{out}/h5_struct/sae_mixed", "wb").write(bytes([1, 5, 9] + [0, 165, 170, 240, 250, 0] * 20))
# (fuzz_h5_struct.c's layout with every dim 1: probe: format, d, n_seq, kind, 8 attributes of 3
# bytes, mean/std/split of 4, /probes present, 3 fits of 36 bytes + an alias byte; labels: format, n,
# ctx, 5 attributes, /tokens, /concepts present, 3 concepts of 4 bytes + an alias byte. Alias bytes:
# 0 none, 210 a second hard link, 230 a soft link, 250 an external link.)
def probe(aliases): return bytes([2, 0, 0, 0] + [0] * 24 + [0] * 12 + [0, 3] + sum(([0] * 36 + [a] for a in aliases), []))
def labels(aliases): return bytes([3, 0, 0] + [0] * 15 + [0] * 5 + [0, 3] + sum(([0] * 5 + [a] for a in aliases), []))
open(f"{out}/h5_struct/probe_expected", "wb").write(probe([0, 0, 0]))
open(f"{out}/h5_struct/probe_aliases", "wb").write(probe([210, 230, 250]))
open(f"{out}/h5_struct/labels_expected", "wb").write(labels([0, 0, 0]))
open(f"{out}/h5_struct/labels_aliases", "wb").write(labels([210, 230, 250]))
PY
rm -rf "$W"

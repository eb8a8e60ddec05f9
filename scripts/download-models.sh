#!/usr/bin/env bash
# download-models.sh: fetch common checkpoints from the Hugging Face hub into models/<name>/
# (needs network access; nothing in the build or the tests depends on it).
#   bash scripts/download-models.sh [gpt2] [stories15M] [smollm-135m]    (default: all three)
# Then e.g.: build/monoscope info models/gpt2
set -euo pipefail
HF=https://huggingface.co
DEST=${MODELS_DIR:-models}

fetch() { # fetch <dir> <url> : skips files already complete, resumes partial ones
    local out="$DEST/$1/$(basename "$2")"
    mkdir -p "$DEST/$1"
    if [ -s "$out" ]; then echo "have $out"; return; fi
    echo "get  $out"
    curl -fL --retry 3 -C - -o "$out.part" "$2" && mv "$out.part" "$out"
}

get_gpt2() { # GPT-2 small (124M), Hugging Face layout: config.json + model.safetensors + BPE files
    for f in config.json model.safetensors vocab.json merges.txt tokenizer.json; do
        fetch gpt2 "$HF/openai-community/gpt2/resolve/main/$f"
    done
}
get_stories15M() { # TinyStories Llama (15M) in llama2.c format, with its SentencePiece tokenizer.bin
    fetch stories15M "$HF/karpathy/tinyllamas/resolve/main/stories15M.bin"
    fetch stories15M "https://raw.githubusercontent.com/karpathy/llama2.c/master/tokenizer.bin"
}
get_smollm() { # SmolLM-135M (Llama architecture, GQA, tied embeddings), tokenizer.json
    for f in config.json model.safetensors tokenizer.json; do
        fetch smollm-135m "$HF/HuggingFaceTB/SmolLM-135M/resolve/main/$f"
    done
}

[ $# -eq 0 ] && set -- gpt2 stories15M smollm-135m
for m in "$@"; do
    case "$m" in
        gpt2) get_gpt2 ;;
        stories15M) get_stories15M ;;
        smollm-135m) get_smollm ;;
        *) echo "unknown model '$m' (choose: gpt2 stories15M smollm-135m)" >&2; exit 2 ;;
    esac
done

#!/usr/bin/env python3
"""Checks a TRL export (`genius export --format trl --model M`) against Hugging Face transformers.

Loads the same GGUF in transformers (`from_pretrained(dir, gguf_file=...)`), scores every exported
pair's chosen_input_ids / rejected_input_ids after prompt_input_ids, and compares the sums with the
exported ref_chosen_logps / ref_rejected_logps. Also reports whether TRL's own tokenization of the
exported texts gives the same ids (tokenizer(prompt), tokenizer(completion), no special tokens added).

Not part of CI (it needs PyTorch). Install: pip install torch transformers gguf

    python3 bench/trl_check.py --model models/genius-tiny.gguf --export pairs.trl.jsonl [--limit 200]
"""
import argparse
import json
import os
import sys

try:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
except ImportError as e:  # pragma: no cover
    print(f"skipped: {e}; install with: pip install torch transformers gguf", file=sys.stderr)
    sys.exit(0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--export", required=True)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--tol", type=float, default=1e-3, help="max |difference| per token, averaged over the response")
    a = ap.parse_args()
    d, f = os.path.split(os.path.abspath(a.model))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    rows = [json.loads(l) for l in open(a.export) if l.strip()][: a.limit]
    worst = 0.0
    same_tokens = 0
    same_prompt = 0
    checked = 0
    for r in rows:
        if "prompt_input_ids" not in r or "ref_chosen_logps" not in r:
            print("export has no token ids / reference log-probs: run genius export --format trl --model M", file=sys.stderr)
            return 2
        p = r["prompt_input_ids"]
        for side, ref in (("chosen", r["ref_chosen_logps"]), ("rejected", r["ref_rejected_logps"])):
            c = r[f"{side}_input_ids"]
            ids = torch.tensor([p + c])
            with torch.no_grad():
                logits = model(ids).logits[0].float()
            lp = torch.log_softmax(logits[len(p) - 1 : -1], dim=-1).gather(1, torch.tensor(c).unsqueeze(1)).sum().item()
            diff = abs(lp - ref) / len(c)
            worst = max(worst, diff)
            checked += 1
        prompt_ok = tok(r["prompt"], add_special_tokens=False)["input_ids"] == p
        same_prompt += int(prompt_ok)
        same_tokens += int(prompt_ok and tok(r["chosen"], add_special_tokens=False)["input_ids"] == r["chosen_input_ids"])
    print(f"{checked} sequences: max |HF - exported| per response token {worst:.2e} (tolerance {a.tol:g})")
    print(f"TRL-style re-tokenization of the texts gives the exported ids: prompt {same_prompt}/{len(rows)}, prompt and chosen {same_tokens}/{len(rows)} pairs")
    return 0 if worst <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())

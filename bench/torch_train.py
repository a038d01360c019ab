#!/usr/bin/env python3
"""The PyTorch peer of `npm run bench:train`: the same ACO step in PyTorch + transformers + peft
(what TRL's DPOTrainer runs on), driven by bench/train.ts over stdin/stdout so both sides are
measured step by step, interleaved, in one invocation.

Protocol: one JSON object per line. On start the script prints {"ready": true, ...} or, when a
package is missing, {"skip": "<how to install>"} and exits 0. Then, per line read:
  {"cmd": "setup", "mode": "lora"|"full", "rank": 16, "alpha": 32}  -> {"params": N, "trainable": N}
  {"cmd": "step", "mode": "lora", "lr": 1e-6}                      -> {"seconds": s, "loss": x, "chosen": [...], "rejected": [...], "grad_norm": g}
  {"cmd": "quit"}
The step is what bench/train.ts times on our side: zero_grad, forward over the 2P sequences
(P chosen then P rejected), the ACO loss (Genius eq. 6 with per-pair calibration weights and cached
reference log-probs), backward, global-norm clipping at 1.0, AdamW.

  python3 bench/torch_train.py --model M.gguf --batch batch.json --threads 2
"""
import argparse
import json
import os
import sys
import time

INSTALL = "pip install torch transformers peft gguf  (CPU wheels; or pip install torch --index-url https://download.pytorch.org/whl/cpu)"


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="GGUF file (loaded by transformers' GGUF reader)")
    ap.add_argument("--batch", required=True, help="JSON: sequences, loss spec (written by bench/train.ts)")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    try:
        import torch
        import torch.nn.functional as F
        import transformers
        import peft
        import gguf  # noqa: F401  (transformers' GGUF reader needs it)
    except ImportError as e:
        reply({"skip": f"PyTorch peer skipped ({e.name} is not installed): {INSTALL}"})
        return
    if a.threads > 0:
        torch.set_num_threads(a.threads)
        torch.set_num_interop_threads(1)
    transformers.logging.set_verbosity_error()
    spec = json.load(open(a.batch))
    seqs = spec["sequences"]
    L = len(seqs[0]["prompt"]) + len(seqs[0]["response"])
    if any(len(s["prompt"]) + len(s["response"]) != L for s in seqs) or any(len(s["prompt"]) != len(seqs[0]["prompt"]) for s in seqs):
        reply({"error": "the peer takes sequences of one length and one prompt length (no padding)"})
        return
    Lp = len(seqs[0]["prompt"])
    ids = torch.tensor([s["prompt"] + s["response"] for s in seqs], dtype=torch.long)  # [2P, L]
    labels = ids[:, Lp:]  # response tokens, predicted from positions Lp-1 .. L-2
    loss_spec = spec["loss"]
    P = len(seqs) // 2
    beta = float(loss_spec["beta"])
    w = torch.tensor(loss_spec["weight"], dtype=torch.float32)
    ref_c = torch.tensor(loss_spec["refChosen"], dtype=torch.float32)
    ref_r = torch.tensor(loss_spec["refRejected"], dtype=torch.float32)
    scale = float(loss_spec["scale"])

    runs = {}  # mode -> (model, optimizer, trainable parameters): modes can be interleaved

    def setup(mode, rank, alpha):
        d, f = os.path.split(os.path.abspath(a.model))
        m = transformers.AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32, attn_implementation="sdpa")
        m.config.use_cache = False
        if mode == "lora":
            cfg = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, bias="none",
                                  target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
            m = peft.get_peft_model(m, cfg)
        m.train()
        params = [p for p in m.parameters() if p.requires_grad]
        runs[mode] = (m, torch.optim.AdamW(params, lr=1e-6, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0), params)
        return {"params": sum(p.numel() for p in m.parameters()), "trainable": sum(p.numel() for p in params)}

    def step(mode, lr):
        model, opt, params = runs[mode]
        for g in opt.param_groups:
            g["lr"] = lr
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        # Hidden states, then the LM head only where a response token is predicted (as ours does).
        h = base.model(input_ids=ids, use_cache=False).last_hidden_state[:, Lp - 1 : L - 1]
        logits = base.lm_head(h).float()
        lp = torch.gather(F.log_softmax(logits, dim=-1), 2, labels.unsqueeze(-1)).squeeze(-1).sum(-1)  # [2P]
        pc, pr = lp[:P], lp[P:]
        pair = -F.logsigmoid(beta * ((pc - ref_c) - w * (pr - ref_r)))
        loss = pair.sum() * scale
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        seconds = time.perf_counter() - t0
        return {"seconds": seconds, "loss": loss.item(), "chosen": pc.tolist(), "rejected": pr.tolist(), "grad_norm": gn.item()}

    reply({"ready": True, "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__, "threads": torch.get_num_threads()})
    for line in sys.stdin:
        if not line.strip():
            continue
        c = json.loads(line)
        if c["cmd"] == "setup":
            reply(setup(c["mode"], int(c.get("rank", 16)), float(c.get("alpha", 32))))
        elif c["cmd"] == "step":
            reply(step(c["mode"], float(c.get("lr", 1e-6))))
        elif c["cmd"] == "quit":
            break
        else:
            reply({"error": f"unknown command {c['cmd']}"})


if __name__ == "__main__":
    main()

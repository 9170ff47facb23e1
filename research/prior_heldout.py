"""Held-out cost (bits/token) of the token prior's settings for a tokenizer's weights.

    python research/prior_heldout.py assets/wavtok40.safetensors > runs/prior_heldout.jsonl

Tokens of every ``audio-train`` clip (first 60 s) and of ``speech-eval``; priors fitted on a
seeded 80% of the training clips, scored on the other 20% and on speech-eval, for 1 (unigram),
16, 64 and 256 code classes and several smoothing strengths. One JSON line per setting.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

from neuralcodec.codecs.audio.codec import load_tokenizer
from neuralcodec.codecs.audio.prior import code_classes, fit_prior
from neuralcodec.codecs.audio.stream import encode_stream
from neuralcodec.training.audio import audio_files, load_clips


def bits_per_token(prior, streams) -> float:
    """Ideal code length under the prior's integer rows (first token: the unigram row)."""
    bits = n = 0
    for s in streams:
        rows = np.concatenate([[prior.start_row], prior.classes[s[:-1]]])
        bits += -np.log2(prior.freqs[rows, s] / (1 << prior.precision)).sum()
        n += len(s)
    return bits / n


@torch.no_grad()
def main(weights: str) -> None:
    model = load_tokenizer(Path(weights))[0]
    files, speech = audio_files("audio-train", "")
    ev_files, _ = audio_files("speech-eval", "")
    tokens = lambda clips: [encode_stream(model, [c.astype(np.float32) / 32767]).reshape(-1) for c in clips]  # noqa
    train = tokens(load_clips(files, 60, speech)[0])
    ev = tokens(load_clips(ev_files, 60, set(ev_files))[0])
    order = np.random.default_rng(0).permutation(len(train))
    cut = int(0.8 * len(train))
    fit, held = [train[i] for i in order[:cut]], [train[i] for i in order[cut:]]
    codes = model.cfg.codes
    emb = model.quantizer.lookup(torch.arange(codes)[None])[0].t().double().numpy()
    for n_cls in (1, 16, 64, 256):
        classes = np.zeros(codes, np.int64) if n_cls == 1 else code_classes(emb, n_cls)
        for smoothing in (4, 16, 64, 256, 1024):
            prior = fit_prior(fit, codes, classes, smoothing=smoothing)
            print(json.dumps({"classes": n_cls, "smoothing": smoothing, "fit_tokens": int(sum(map(len, fit))),
                              "heldout_bits": round(bits_per_token(prior, held), 3),
                              "speech_eval_bits": round(bits_per_token(prior, ev), 3)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])

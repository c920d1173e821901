"""A small `CLIPTokenizer` built in code (no download): single characters plus whole-word tokens."""

from __future__ import annotations

from collections.abc import Iterable

from transformers import CLIPTokenizer

CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.,'-!?&()/:;"
SPECIAL = ("<|startoftext|>", "<|endoftext|>")


def build_clip_tokenizer(words: Iterable[str] = (), model_max_length: int = 77) -> CLIPTokenizer:
    """A byte-pair `CLIPTokenizer` whose vocabulary is every character in `CHARS` plus `words` as whole tokens.

    Any lower-case text tokenizes (a word not in `words` falls back to characters); each of `words`
    is one token, which makes a small text encoder easy to train. `model_max_length` must be set
    (77 as in Stable Diffusion), or prompt encoding overflows.
    """
    vocab: dict[str, int] = {}
    for suffix in ("", "</w>"):
        for ch in CHARS:
            vocab[ch + suffix] = len(vocab)
    merges: list[tuple[str, str]] = []
    for word in sorted({w.lower() for w in words}):
        if not word or any(ch not in CHARS for ch in word):
            raise ValueError(f"Word {word!r} has characters outside {CHARS!r}.")
        pieces = [*list(word[:-1]), word[-1] + "</w>"]
        current = pieces[0]
        for piece in pieces[1:]:
            pair = (current, piece)
            current += piece
            if current not in vocab:
                vocab[current] = len(vocab)
                merges.append(pair)
    for token in SPECIAL:
        vocab[token] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)  # type: ignore[arg-type]


__all__ = [
    "CHARS",
    "SPECIAL",
    "build_clip_tokenizer",
]

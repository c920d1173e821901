"""The tokenizer built in code (`genie_transforms.digits.vocab`): no download, the given words as whole tokens."""

import pytest

from genie_transforms.digits import DIGIT_NAMES, build_clip_tokenizer


def test_given_words_are_one_token_and_any_other_text_falls_back_to_characters():
    tokenizer = build_clip_tokenizer(DIGIT_NAMES)
    ids = tokenizer("a photo of the digit seven.")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert len(tokenizer.tokenize("seven")) == 1 and tokenizer.tokenize("seven") == ["seven</w>"]
    assert len(tokenizer.tokenize("photo")) == 5  # not a given word: its characters
    assert tokenizer.decode(ids, skip_special_tokens=True).replace(" ", "") == "aphotoofthedigitseven."


def test_prompts_pad_to_the_model_length_and_bad_words_are_refused():
    tokenizer = build_clip_tokenizer(["cat"])
    assert tokenizer.model_max_length == 77
    assert len(tokenizer("a cat", padding="max_length", truncation=True)["input_ids"]) == 77
    with pytest.raises(ValueError, match="characters outside"):
        build_clip_tokenizer(["Ångström"])

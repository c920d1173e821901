import pytest

from genie_transforms import PromptMap, clean_class_name


@pytest.mark.parametrize(
    "raw, everything, first",
    [
        ("n01532829_house_finch", "house finch", "house finch"),
        (
            "African hunting dog, hyena dog, Cape hunting dog",
            "African hunting dog, hyena dog, Cape hunting dog",
            "African hunting dog",
        ),
        ("n02123045_tabby,  tabby_cat", "tabby, tabby cat", "tabby"),
        ("golden_retriever", "golden retriever", "golden retriever"),
        ("  tabby   cat ", "tabby cat", "tabby cat"),
    ],
)
def test_clean_class_name_keeps_all_synonyms_or_the_first(raw, everything, first):
    assert clean_class_name(raw) == clean_class_name(raw, synonyms="all") == everything
    assert clean_class_name(raw, synonyms="first") == first


def test_the_default_prompt_is_the_reference_codes_full_synonym_string():
    names = ["n02123045_tabby, tabby_cat", "n02099601_golden_retriever"]
    assert PromptMap(names).prompt(0) == "a photo of a tabby, tabby cat."
    assert PromptMap(names, synonyms="first").prompt(0) == "a photo of a tabby."
    with pytest.raises(ValueError, match="synonyms"):
        PromptMap(names, synonyms="some")


def test_duplicate_class_names_are_refused():
    with pytest.raises(ValueError, match="Classes 0 and 2 are both named 'crane'"):
        PromptMap(["crane", "dog", "n03126707_crane"])
    with pytest.raises(ValueError, match="both named 'crane'"):
        PromptMap(["crane, bird", "crane, machine"], synonyms="first")
    assert PromptMap(["crane, bird", "crane, machine"]).name(1) == "crane, machine"


def test_clean_class_name_rejects_empty_and_non_str():
    with pytest.raises(ValueError, match="empty"):
        clean_class_name("n01532829_")
    with pytest.raises(TypeError, match="str"):
        clean_class_name(3)


def test_prompt_map_from_list_dict_and_overrides():
    pm = PromptMap(["n02123045_tabby", "dog"], overrides={1: "a dog on a beach."})
    assert pm.prompt(0) == "a photo of a tabby."
    assert pm.prompt(1) == "a dog on a beach."
    assert pm.name(1) == "dog" and pm.index("tabby") == 0
    pm2 = PromptMap({3: "car", 7: "boat"}, template="an image of a {}")
    assert pm2.labels == [3, 7] and pm2.prompt(7) == "an image of a boat"


def test_prompt_map_unknown_label_names_it():
    pm = PromptMap(["cat", "dog"])
    with pytest.raises(KeyError, match="Unknown class label 5"):
        pm.prompt(5)
    with pytest.raises(KeyError, match="'horse'"):
        pm.index("horse")


def test_prompt_map_validates_construction():
    with pytest.raises(ValueError, match="exactly one"):
        PromptMap(["cat"], template="a photo")
    with pytest.raises(ValueError, match="empty"):
        PromptMap([])
    with pytest.raises(TypeError, match="list of class names"):
        PromptMap("cat")
    with pytest.raises(KeyError, match="Unknown class label 9"):
        PromptMap(["cat"], overrides={9: "x"})


def test_prompt_map_round_trips_through_dict():
    pm = PromptMap(["cat", "dog"], template="a {} photo.", overrides={0: "a kitten."})
    assert PromptMap.from_dict(pm.to_dict()) == pm


@pytest.mark.parametrize("template", ["{style} of a {}", "{0}", "{:>5}", "a {!r}", "{}.{}", "{x.y}", "a { photo {}"])
def test_a_template_is_refused_when_it_is_read_not_at_the_first_prompt(template, tmp_path, capsys):
    """Everywhere a template is read: `PromptMap`, a model folder's `genie.json`, and `--template`."""
    import json

    from genie_transforms.cli import main
    from genie_transforms.loading import read_metadata

    with pytest.raises(ValueError, match="exactly one plain '{}'|not a valid template"):
        PromptMap(["cat"], template=template)
    (tmp_path / "genie.json").write_text(json.dumps({"prompt_template": template}))
    with pytest.raises(ValueError, match="genie.json: `prompt_template`"):
        read_metadata(tmp_path)
    with pytest.raises(SystemExit):
        main(["generate", "--dataset", "d", "--model", "m", "--output", str(tmp_path / "o"), "--template", template])
    assert "--template" in capsys.readouterr().err


def test_literal_braces_are_kept_in_a_template():
    assert PromptMap(["cat"], template="a {{logo}} of a {}").prompt(0) == "a {logo} of a cat"

"""Label-to-prompt maps and class-name cleaning (pure functions, no model)."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence

DEFAULT_TEMPLATE = "a photo of a {}."

_WORDNET_ID = re.compile(r"^n\d{8}[_\s-]*")


SYNONYMS = ("all", "first")


def clean_class_name(name: str, synonyms: str = "all") -> str:
    """Turn a raw dataset class name into a readable one for a prompt.

    Drops a leading WordNet id (``n01532829_house_finch``), turns underscores into spaces and, for a
    comma-separated synonym list (``"tabby, tabby cat"``), keeps every synonym (`synonyms="all"`, what the
    reference code prompts with) or only the first (`synonyms="first"`).

    Examples:
        >>> clean_class_name("n01532829_house_finch")
        'house finch'
        >>> clean_class_name("tabby, tabby_cat")
        'tabby, tabby cat'
        >>> clean_class_name("African hunting dog, hyena dog, Cape hunting dog", synonyms="first")
        'African hunting dog'
    """
    if not isinstance(name, str):
        raise TypeError(f"A class name must be a str, got {type(name).__name__}: {name!r}.")
    if synonyms not in SYNONYMS:
        raise ValueError(f"`synonyms` must be 'all' (the reference code's prompts) or 'first', got {synonyms!r}.")
    cleaned = _WORDNET_ID.sub("", name.strip()).replace("_", " ")
    parts = [" ".join(part.split()) for part in cleaned.split(",")]
    parts = [part for part in parts if part]
    cleaned = ", ".join(parts[:1] if synonyms == "first" else parts)
    if not cleaned:
        raise ValueError(f"Class name {name!r} is empty after cleaning; give a readable name for it.")
    return cleaned


def check_template(template: object, what: str = "`template`") -> str:
    """A prompt template: a string with exactly one plain `{}` for the class name (literal braces written `{{` and
    `}}`). Named or numbered fields (`{style}`, `{0}`), format specs (`{:>5}`), conversions and attribute access are
    refused here, not as a traceback at the first prompt."""
    if not isinstance(template, str):
        raise ValueError(f"{what} must be a string with exactly one '{{}}' for the class name, got {template!r}.")
    try:
        fields = [f for f in string.Formatter().parse(template) if f[1] is not None]
    except ValueError as err:
        raise ValueError(
            f"{what} {template!r} is not a valid template ({err}); write literal braces as {{{{ }}}}."
        ) from None
    plain = [f for f in fields if f[1] == "" and not f[2] and f[3] is None]
    if len(fields) != 1 or len(plain) != 1:
        odd = [("{" + (f[1] or "") + (f"!{f[3]}" if f[3] else "") + (f":{f[2]}" if f[2] else "") + "}") for f in fields]
        raise ValueError(
            f"{what} must contain exactly one plain '{{}}' for the class name, got {template!r} (fields: {odd}); "
            "write literal braces as {{ and }}."
        )
    return template


class PromptMap:
    """Maps class indices to human names and to the text prompt of the target class.

    Args:
        names (`Sequence[str]` or `Mapping[int, str]`):
            Class names by index (a list, e.g. a `ClassLabel`'s `names`) or a dict from index to name.
        template (`str`, *optional*, defaults to `"a photo of a {}."`):
            Prompt template with one `{}` for the class name.
        overrides (`Mapping[int, str]`, *optional*):
            Full prompts for some classes, used as they are instead of the template.
        clean (`bool`, *optional*, defaults to `True`):
            Clean raw names with [`clean_class_name`] (WordNet ids, underscores, spacing).
        synonyms (`str`, *optional*, defaults to `"all"`):
            For names that are WordNet synonym lists ("tabby, tabby cat"): keep them all, as the reference code
            prompts ("a photo of a tabby, tabby cat."), or only the first (`"first"`: shorter prompts, but a
            homonym such as "crane" loses the synonym that tells the bird from the machine).

    Examples:
        >>> pm = PromptMap(["cat", "n02084071_dog"])
        >>> pm.prompt(1)
        'a photo of a dog.'
        >>> pm.index("dog")
        1
    """

    def __init__(
        self,
        names: Sequence[str] | Mapping[int, str],
        template: str = DEFAULT_TEMPLATE,
        overrides: Mapping[int, str] | None = None,
        clean: bool = True,
        synonyms: str = "all",
    ) -> None:
        if isinstance(names, str) or not isinstance(names, (Sequence, Mapping)):
            raise TypeError(
                f"`names` must be a list of class names or a dict {{index: name}}, got {type(names).__name__}."
            )
        items = dict(names) if isinstance(names, Mapping) else dict(enumerate(names))
        if not items:
            raise ValueError("`names` is empty; a PromptMap needs at least one class.")
        for key in items:
            if isinstance(key, bool) or not isinstance(key, int):
                raise TypeError(f"Class indices must be int, got {key!r}; pass a list or a dict {{int: name}}.")
        self.template = check_template(template)
        self.names: dict[int, str] = {k: clean_class_name(v, synonyms) if clean else str(v) for k, v in items.items()}
        self.overrides: dict[int, str] = {}
        for key, prompt in (overrides or {}).items():
            self._check_label(key)
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError(f"Override prompt for class {key} must be a non-empty str, got {prompt!r}.")
            self.overrides[key] = prompt
        by_name: dict[str, int] = {}
        for k, v in sorted(self.names.items()):
            if v in by_name:
                raise ValueError(
                    f"Classes {by_name[v]} and {k} are both named {v!r} (after cleaning); give them distinct names "
                    "(e.g. 'crane (bird)' and 'crane (machine)'), or keep full synonym lists (synonyms='all')."
                )
            by_name[v] = k
        self._by_name = by_name

    @classmethod
    def coerce(cls, prompts: PromptMap | Sequence[str] | Mapping[int, str]) -> PromptMap:
        """Return `prompts` if it is a `PromptMap`, else build one from class names with the default template."""
        return prompts if isinstance(prompts, PromptMap) else cls(prompts)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, label: object) -> bool:
        return label in self.names

    @property
    def labels(self) -> list[int]:
        """The class indices, sorted."""
        return sorted(self.names)

    def _check_label(self, label: object) -> int:
        if isinstance(label, bool) or not isinstance(label, int) or label not in self.names:
            known = self.labels
            shown = known if len(known) <= 20 else [*known[:20], "..."]
            raise KeyError(
                f"Unknown class label {label!r}: this PromptMap knows {shown}. "
                "Add its name (or an override prompt) to the PromptMap."
            )
        return label

    def index(self, label: int | str) -> int:
        """The class index of `label`, given as an index or as a (clean) class name."""
        if isinstance(label, str):
            if label not in self._by_name:
                raise KeyError(f"Unknown class name {label!r}; known names: {sorted(self._by_name)[:20]}.")
            return self._by_name[label]
        return self._check_label(int(label) if hasattr(label, "__index__") else label)

    def name(self, label: int | str) -> str:
        """The readable class name of `label`."""
        return self.names[self.index(label)]

    def prompt(self, label: int | str) -> str:
        """The text prompt of class `label`."""
        idx = self.index(label)
        return self.overrides.get(idx) or self.template.format(self.names[idx])

    def to_dict(self) -> dict:
        """A JSON-serialisable description (names, template, overrides) that [`from_dict`] restores."""
        return {
            "names": {str(k): v for k, v in self.names.items()},
            "template": self.template,
            "overrides": {str(k): v for k, v in self.overrides.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> PromptMap:
        """Rebuild a `PromptMap` from [`to_dict`]'s output."""
        names = {int(k): v for k, v in data["names"].items()}
        overrides = {int(k): v for k, v in data.get("overrides", {}).items()}
        return cls(names, template=data.get("template", DEFAULT_TEMPLATE), overrides=overrides, clean=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PromptMap) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"PromptMap({len(self)} classes, template={self.template!r})"


__all__ = [
    "DEFAULT_TEMPLATE",
    "SYNONYMS",
    "PromptMap",
    "check_template",
    "clean_class_name",
]
